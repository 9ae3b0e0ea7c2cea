//! Local OTLP/HTTP sink (being written).
