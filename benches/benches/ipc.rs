//! IPC latency and throughput over the real Unix socket, against the real agent
//! router and turn loop (echo provider). `make bench` runs it; criterion keeps the medians under
//! `$CARGO_TARGET_DIR/criterion/`.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use aios_common::config::{AgentConfig, ProviderKind};
use aios_common::ipc::client::IpcClient;
use aios_common::ipc::server::ServerOptions;
use aios_common::ipc::{ClientKind, Hello, IpcMessage, MessageCodec, PROTOCOL_VERSION, Ping};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::{FramedRead, FramedWrite};

fn ipc(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.sock");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Echo provider, history in the process: this measures the IPC layer and the
    // turn loop around the model, not a model.
    let mut config = AgentConfig::default();
    config.provider.kind = ProviderKind::Echo;
    config.agent.keep_history = false;
    config.agent.audit_log = Some(dir.path().join("actions.log"));
    let server = rt.spawn({
        let path = path.clone();
        async move {
            aios_agent::run(config, &path, ServerOptions::default(), async {
                let _ = stopped.await;
            })
            .await
        }
    });
    let mut client = rt.block_on(async {
        let mut c = IpcClient::new(&path, ClientKind::Test);
        c.connect().await.expect("connect");
        c
    });

    let mut g = c.benchmark_group("ipc");
    g.measurement_time(Duration::from_secs(5));
    let mut seq = 0u64;
    g.bench_function("ping_round_trip", |b| {
        b.iter(|| {
            seq += 1;
            rt.block_on(client.ping(seq)).expect("pong");
        });
    });
    g.bench_function("status_round_trip", |b| {
        b.iter(|| rt.block_on(client.status()).expect("status"));
    });
    let question = "please list the files in my downloads folder";
    g.bench_function("chat_echo_turn_8_words", |b| {
        b.iter(|| rt.block_on(client.chat(question, |_| {})).expect("reply"));
    });
    g.bench_function("connect_and_handshake", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut c = IpcClient::new(&path, ClientKind::Test);
                c.connect().await.expect("connect");
            });
        });
    });
    let n = 1000u64;
    g.throughput(Throughput::Elements(n));
    g.bench_with_input(BenchmarkId::new("pipelined_pings", n), &n, |b, &n| {
        b.iter(|| rt.block_on(pipelined(&path, n)));
    });
    for kib in [1usize, 64, 512] {
        let content = "x".repeat(kib * 1024);
        g.throughput(Throughput::Bytes((kib * 1024) as u64));
        g.bench_with_input(
            BenchmarkId::new("chat_echo_bytes_kib", kib),
            &content,
            |b, content| {
                b.iter(|| rt.block_on(client.chat(content, |_| {})).expect("reply"));
            },
        );
    }
    g.finish();

    let _ = stop.send(());
    rt.block_on(server).expect("join").expect("server");
}

/// Sends `n` pings back to back on a fresh connection while reading the pongs.
async fn pipelined(path: &std::path::Path, n: u64) {
    let (r, w) = UnixStream::connect(path)
        .await
        .expect("connect")
        .into_split();
    let mut reader = FramedRead::new(r, MessageCodec::default());
    let mut writer = FramedWrite::new(w, MessageCodec::default());
    writer
        .send(IpcMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            client_kind: ClientKind::Test,
        }))
        .await
        .expect("hello");
    let send = tokio::spawn(async move {
        for seq in 0..n {
            writer
                .feed(IpcMessage::Ping(Ping { seq }))
                .await
                .expect("send");
        }
        SinkExt::<IpcMessage>::flush(&mut writer)
            .await
            .expect("flush");
        writer
    });
    let mut got = 0;
    while got < n {
        if let Some(Ok(IpcMessage::Pong(_))) = reader.next().await {
            got += 1;
        }
    }
    drop(send.await.expect("sender"));
}

criterion_group!(benches, ipc);
criterion_main!(benches);
