//! Process modes against children that misbehave: every wait is bounded, and failed chunks are counted and reported.

use std::io::ErrorKind;
use std::process::{Command, Stdio};
use std::time::Duration;

use dpc_ocycle::{CallbackError, Consumer, Emitter, Error, ProcessOutput, Stats};

use crate::support::{Rec, within};

/// A short timeout, for children that are stuck on purpose.
const TIMEOUT: Duration = Duration::from_millis(200);
/// A timeout no healthy child comes near, however loaded the machine, where the test needs the child not to time out.
const PATIENT: Duration = Duration::from_secs(30);
/// How long a scenario may take before the test fails instead of hanging (a stuck wait takes forever).
const LIMIT: Duration = Duration::from_secs(60);
/// Larger than a pipe's buffer (64 KiB on Linux), so that a child that does not read blocks the writer.
const CHUNK: usize = 64 * 1024;

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdout(Stdio::null());
    cmd
}

/// Writes `chunks` chunks of `CHUNK` bytes to a persistent child, then closes; returns close's result and the stats.
fn feed(cmd: Command, chunks: usize, timeout: Duration) -> (Result<(), Error>, Stats) {
    within(LIMIT, move || {
        let mut em = Emitter::<u8>::new(Consumer::process(CHUNK, cmd).clip(true).timeout(timeout)).unwrap();
        let data = vec![7u8; CHUNK];
        for _ in 0..chunks {
            em.write(&data).unwrap();
        }
        let closed = em.close();
        (closed, em.stats())
    })
}

/// Checks that close reported `failed` of `chunks` chunks and the counters agree; returns the first failure and how
/// the child ended.
fn failed(closed: Result<(), Error>, stats: &Stats, chunks: u64) -> (u64, String, Option<Box<Error>>) {
    let st = &stats.consumers[0];
    assert_eq!(st.chunks_cut, chunks);
    assert_eq!(st.chunks_completed + st.chunks_failed, chunks, "{st:?}");
    assert_eq!(st.chunks_failed, st.callback_errors, "{st:?}");
    match closed {
        Err(Error::ChunksFailed { consumer: 0, failed, completed, first, child, .. }) => {
            assert_eq!((failed, completed), (st.chunks_failed, st.chunks_completed));
            assert!(failed > 0);
            (failed, first, child)
        }
        other => panic!("expected failed chunks, got {other:?} with {st:?}"),
    }
}

#[test]
fn a_child_that_never_reads_cannot_block_write_or_close() {
    // `sleep` neither reads nor exits: the second chunk cannot enter the full pipe, times out, the child is
    // killed, and every later chunk fails at once instead of blocking `write` (Block policy) and `close` forever.
    let (closed, stats) = feed(sh("exec sleep 600"), 40, TIMEOUT);
    let (_, first, child) = failed(closed, &stats, 40);
    assert!(stats.consumers[0].chunks_completed <= 2, "about a pipe's worth gets through: {stats:?}");
    assert!(first.contains("took no input"), "{first}");
    assert!(matches!(child.as_deref(), Some(Error::Child { .. })), "the child was killed: {child:?}");
}

#[test]
fn a_grandchild_holding_the_pipe_cannot_block_close() {
    // The shell is killed at the timeout, but the `sleep` it started keeps the pipe open and never reads.
    let (closed, stats) = feed(sh("sleep 30; true"), 4, TIMEOUT);
    let (_, first, _) = failed(closed, &stats, 4);
    assert!(first.contains("took no input"), "{first}");
}

#[test]
fn a_child_that_exits_at_once_fails_the_chunks_it_did_not_take_and_close_says_so() {
    // 40 chunks of 64 KiB cannot all fit in the pipe of a child that exits without reading. The timeout is long,
    // so the failures are the broken pipe's, not a timeout's, even if the shell is slow to exit.
    let (closed, stats) = feed(sh("exit 0"), 40, PATIENT);
    let (_, first, child) = failed(closed, &stats, 40);
    assert!(first.to_lowercase().contains("broken pipe"), "{first}");
    assert!(child.is_none(), "the child itself succeeded: {child:?}");
}

#[test]
fn a_child_that_never_exits_after_its_input_ends_is_killed_at_close() {
    let (closed, stats) = within(LIMIT, || {
        // It reads everything, then ignores the end of its input. Its 3 chunks fit in the pipe, so none can time
        // out however slowly the writer runs; the 1 s timeout is what `close` waits before killing it.
        let cmd = sh("cat > /dev/null; exec sleep 600");
        let mut em = Emitter::<u8>::new(Consumer::process(4, cmd).clip(true).timeout(Duration::from_secs(1))).unwrap();
        em.write(b"abcdefghij").unwrap();
        let closed = em.close();
        (closed, em.stats())
    });
    assert!(
        matches!(closed, Err(Error::ChildTimeout { consumer: 0, after, .. }) if after == Duration::from_secs(1)),
        "{closed:?}"
    );
    assert_eq!((stats.consumers[0].chunks_completed, stats.consumers[0].chunks_failed), (3, 0));
}

#[test]
fn a_per_chunk_child_that_never_exits_times_out_and_close_says_so() {
    let results = Rec::new();
    let r = results.clone();
    let (closed, stats) = within(LIMIT, move || {
        let mut em = Emitter::<u8>::new(
            Consumer::process_per_chunk(4, 2, sh("exec sleep 600"))
                .clip(true)
                .timeout(TIMEOUT)
                .on_done(move |d| r.push((d.seq, d.result.map(|o: ProcessOutput| o.stdout).map_err(kind)))),
        )
        .unwrap();
        em.write(b"abcdefgh").unwrap();
        let closed = em.close();
        (closed, em.stats())
    });
    assert_eq!(results.get(), vec![(0, Err(Some(ErrorKind::TimedOut))), (1, Err(Some(ErrorKind::TimedOut)))]);
    let (failed, first, _) = failed(closed, &stats, 2);
    assert_eq!(failed, 2);
    assert!(first.contains("did not finish"), "{first}");
}

#[test]
fn a_timeout_of_zero_is_rejected_at_build() {
    let e = Emitter::<u8>::new(Consumer::process(4, sh("cat")).timeout(Duration::ZERO)).unwrap_err();
    assert!(matches!(e, dpc_ocycle::BuildError::ZeroTimeout { consumer: 0 }), "{e}");
}

/// The `io::ErrorKind` of a callback error, if it is an I/O error.
fn kind(e: CallbackError) -> Option<ErrorKind> {
    match e {
        CallbackError::Failed(e) => e.downcast_ref::<std::io::Error>().map(std::io::Error::kind),
        _ => None,
    }
}
