//! Every decoder a bundle's bytes meet before any key is used: BPv7, envelope, signed
//! body, batch, grant, raw changes. None may panic or allocate past its cap.
#![no_main]

use caravan::envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = 1_795_400_000_000;
    if let Ok(info) = caravan::bundle::parse(data, now) {
        let _ = envelope::decode_envelope(&data[info.payload]);
    }
    let _ = envelope::decode_envelope(data);
    let _ = envelope::decode_signed(data);
    let _ = envelope::Batch::decode(data);
    let _ = envelope::Grant::decode(data);
    let _ = envelope::decode_raw_changes(data);
});
