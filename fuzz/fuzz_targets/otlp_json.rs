//! OTLP/JSON requests through `sluice::otlp_json` decoding (all signals) and through the
//! HTTP receiver's body path with `Content-Type: application/json`.
//!
//! Input: byte 0 picks the signal (`% 3`); the rest is the JSON body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::otlp_json;
use sluice::receivers::otlp::decode_http_body;
use sluice::signal::Signal;

const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

fuzz_target!(|input: &[u8]| {
    let Some((&sel, body)) = input.split_first() else {
        return;
    };
    let signal = SIGNALS[(sel % 3) as usize];
    let direct = otlp_json::decode_data(signal, body);
    let via_receiver = decode_http_body(signal, true, "", body, 1 << 20);
    assert_eq!(direct.is_ok(), via_receiver.is_ok());
    let Ok(data) = direct else { return };
    assert_eq!(via_receiver.unwrap().item_count(), data.item_count());
    assert_eq!(data.signal(), signal);
    let _ = data.item_count();
    let _ = data.encoded_len();
    // The exporters' JSON encoding of a decoded request must not panic.
    let json = otlp_json::encode_data(&data);
    assert!(!json.is_empty());
});
