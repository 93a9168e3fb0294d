"""What people look at: the health verdict per stage, expectations, plots and the text/HTML report.
"""

# report.py was one module before the package had floors: its public names stay here
from .document import (MAX_STREAM_PLOTS, MAX_DTLS_LADDERS, ICE_LADDER_ROWS, MAX_TABLE_ROWS, PNG_DPI, REDACTED_SDP,
    Report, CALLS_SCHEMA, build, matplotlib_headless)

__all__ = ["MAX_STREAM_PLOTS", "MAX_DTLS_LADDERS", "ICE_LADDER_ROWS", "MAX_TABLE_ROWS", "PNG_DPI", "REDACTED_SDP",
           "Report", "CALLS_SCHEMA", "build", "matplotlib_headless"]
