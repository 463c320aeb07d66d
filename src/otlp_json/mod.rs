//! TEMPORARY placeholder; the OTLP/JSON codec goes here.
