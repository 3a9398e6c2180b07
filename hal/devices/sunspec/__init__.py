"""SunSpec DER (models 1, 701-713) over Modbus: model definitions, layout, the driver."""
