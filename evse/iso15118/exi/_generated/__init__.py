"""Generated EXI grammar tables (see evse.iso15118.exi.generator). Do not edit."""
