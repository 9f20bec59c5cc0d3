"""The local engine server (``server``), its CPU OCR engines (``ocr``), reading order (``layout``) and fault
injection (``faults``): an OpenAI-compatible baseline that needs no GPU and no account."""
