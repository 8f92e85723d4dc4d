//! CPU cost of the gateway's own work, next to the floor it cannot go below, measured in one
//! run: ingest (verify + split + serialize the queue messages) against one HMAC-SHA256 over the
//! body plus one serde_json parse; forward (format + both signatures) per delivery.
//! `make bench` runs this and prints the ratios from Criterion's estimates.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gateway_core::format::{DeliveryFormat, render};
use gateway_core::meta::split::split_events;
use gateway_core::signature::{Secret, sign_delivery, sign_hub, verify_hub_signature};

fn batch(n: usize) -> Vec<u8> {
    let messages: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"from":"4915112345{i:03}","id":"wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABIYFEFCN0U1NUU3OUZCRTYyMTM3MjFF{i:04}","timestamp":"1700000000","type":"text","text":{{"body":"Hallo, ich h\u00e4tte gern einen Termin am Dienstag \ud83d\ude00 Nummer {i}"}}}}"#
            )
        })
        .collect();
    let contacts: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"profile":{{"name":"Kunde {i}"}},"wa_id":"4915112345{i:03}"}}"#))
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"106540352242922"}},"contacts":[{}],"messages":[{}]}},"field":"messages"}}]}}]}}"#,
        contacts.join(","),
        messages.join(",")
    )
    .into_bytes()
}

fn ingest(c: &mut Criterion) {
    let secret = Secret::new("bench-app-secret");
    for n in [1usize, 100] {
        let body = batch(n);
        let header = sign_hub(&secret, &body);
        let mut group = c.benchmark_group(format!("ingest_{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("gateway", |b| {
            b.iter(|| {
                verify_hub_signature(
                    std::slice::from_ref(&secret),
                    black_box(&body),
                    Some(&header),
                )
                .unwrap();
                let events = split_events(black_box(&body)).unwrap();
                let bodies: Vec<String> = events.iter().map(|e| e.to_queue_body()).collect();
                black_box(bodies)
            })
        });
        group.bench_function("floor", |b| {
            b.iter(|| {
                black_box(sign_hub(&secret, black_box(&body)));
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
            })
        });
        group.finish();
    }
}

fn forward(c: &mut Criterion) {
    let events = split_events(&batch(3)).unwrap();
    let event = &events[1];
    let secrets = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(1));
    for format in [DeliveryFormat::Meta, DeliveryFormat::Envelope] {
        group.bench_function(format.as_str(), |b| {
            b.iter(|| {
                let body = render(black_box(event), format);
                black_box(sign_delivery(
                    &secrets,
                    event.id.as_str(),
                    1_700_000_000,
                    &body,
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest, forward);
criterion_main!(benches);
