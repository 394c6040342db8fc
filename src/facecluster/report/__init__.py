"""Tables, figures and HTML helpers for the stage reports."""
