"""Requests to an OpenAI-compatible endpoint: the OCR client on the openai SDK and its retry loop."""
