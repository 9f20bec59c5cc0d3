"""The models this workbench serves and asks: LightOnOCR's variants and profiles, the GPU table, and
``ServeConfig`` (how the Modal app serves one variant). Dependency-light: ``serve/app.py`` imports it."""
