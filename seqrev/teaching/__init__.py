"""The lesson's chapters and the lab report, built from the layers below."""
