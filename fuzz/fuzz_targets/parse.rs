//! Policy text in, no panic out: parse, validate, compile and evaluate
//! whatever the fuzzer writes, as every policy type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_policy::{evaluate, Context, Layers, Policy, PolicySet, PolicyType, Request};

const TYPES: [PolicyType; 6] = [
    PolicyType::Identity,
    PolicyType::Resource,
    PolicyType::PermissionBoundary,
    PolicyType::Session,
    PolicyType::Scp,
    PolicyType::Rcp,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for ty in TYPES {
        let _ = ward_policy::validate(text, ty);
        if let Ok(p) = Policy::parse("fuzz", text, ty) {
            let set = PolicySet::from_policies([p]);
            let mut ctx = Context::new();
            ctx.set("aws:username", "alice");
            ctx.set("aws:SourceIp", "10.0.0.1");
            ctx.set("aws:CurrentTime", "2026-06-01T12:00:00Z");
            ctx.set_multi("aws:TagKeys", ["a", "b"]);
            let req = Request::new(
                "arn:aws:sts::111111111111:assumed-role/r/s",
                "s3:GetObject",
                "arn:aws:s3:::bucket/alice/key",
                None,
                ctx,
            );
            let layers = match ty {
                PolicyType::Resource => Layers { resource: Some(set), ..Default::default() },
                _ => Layers { identity: set, ..Default::default() },
            };
            let d = evaluate(&req, &layers);
            let _ = d.message(&req);
        }
    }
});
