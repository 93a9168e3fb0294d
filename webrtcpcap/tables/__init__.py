"""Decoded records to typed pandas tables: the schemas, the pipeline that builds every table a Capture serves,
decryption of SRTP/SRTCP, the streams table and sequence arithmetic, sessions (calls), the summary counts and the
decrypted copy.
"""

# tables.py was one module before the package had floors: its public names stay here
from .schema import (PACKETS_SCHEMA, ICMP_SCHEMA, FRAGMENTS_SCHEMA, KEY_COLUMNS, SRTP_COLUMNS, RTP_SCHEMA,
    RTCP_SCHEMA, DECRYPTED_RTP_SCHEMA, DECRYPTED_RTCP_SCHEMA, STUN_SCHEMA, STUN_ATTRIBUTES_SCHEMA, TCP_STREAMS_SCHEMA,
    FLOWS_SCHEMA, masked, categorical, utc_times, int_category, id_category, zero_is_missing, take_rows, take_columns,
    frame_table, check_schema, empty_table, is_missing, ufrag_pair)

__all__ = ["PACKETS_SCHEMA", "ICMP_SCHEMA", "FRAGMENTS_SCHEMA", "KEY_COLUMNS", "SRTP_COLUMNS", "RTP_SCHEMA",
           "RTCP_SCHEMA", "DECRYPTED_RTP_SCHEMA", "DECRYPTED_RTCP_SCHEMA", "STUN_SCHEMA", "STUN_ATTRIBUTES_SCHEMA",
           "TCP_STREAMS_SCHEMA", "FLOWS_SCHEMA", "masked", "categorical", "utc_times", "int_category", "id_category",
           "zero_is_missing", "take_rows", "take_columns", "frame_table", "check_schema", "empty_table", "is_missing",
           "ufrag_pair"]
