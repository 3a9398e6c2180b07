"""Grid-code presets shipped with the package (package data, read as files by
`hal.grid.settings`): EN 50549-1, VDE-AR-N 4105, IEEE 1547 Cat I / II / III."""
