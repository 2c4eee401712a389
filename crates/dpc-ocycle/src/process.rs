//! The process modes' callbacks: feeding one persistent child, or one child per chunk, with every wait bounded.
//!
//! A child may never read its stdin, never exit, or exit at once; a grandchild may keep its pipes open after it.
//! None of these may block the producer or `close` for longer than the consumer's timeout, so every blocking pipe
//! operation runs on a thread of its own that the caller waits for with a deadline, and a child past its deadline
//! is killed. A thread left blocked on a pipe that a grandchild holds ends when that pipe closes; it holds no
//! buffer of the consumer's pool.

use std::io::{self, Read as _, Write as _};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use crate::chunk::{Chunk, ProcessOutput};
use crate::consumer::SharedFn;
use crate::error::{BoxError, BuildError, Error};
use crate::sample::Sample;
use crate::sink::Finish;

/// The callback and close hook of a persistent child: chunks are written to its stdin in order, by a writer thread
/// that the callback waits for no longer than `timeout` per chunk.
pub(crate) fn persistent_child<T: Sample>(
    consumer: usize,
    mut command: Command,
    timeout: Duration,
) -> Result<(SharedFn<T, ProcessOutput>, Finish), BuildError> {
    let name = format!("{command:?}");
    let spawn_error = |source| BuildError::Spawn { consumer, command: name.clone(), source };
    let mut child = command.stdin(Stdio::piped()).spawn().map_err(spawn_error)?;
    let Some(stdin) = child.stdin.take() else {
        kill(&mut child);
        return Err(spawn_error(io::Error::other("the child has no stdin")));
    };
    let (to_writer, jobs) = bounded::<Vec<u8>>(1);
    let (acks, from_writer) = bounded::<(Vec<u8>, io::Result<()>)>(1);
    if let Err(source) =
        std::thread::Builder::new().name("ocycle-stdin".into()).spawn(move || feed(stdin, &jobs, &acks))
    {
        kill(&mut child);
        return Err(BuildError::Thread { consumer, source });
    }
    let shared = Arc::new(Persistent {
        child: Mutex::new(child),
        state: Mutex::new(State { to_writer: Some(to_writer), spare: Vec::new(), broken: None }),
        from_writer,
        timeout,
    });
    let p = Arc::clone(&shared);
    let f: SharedFn<T, ProcessOutput> = Arc::new(move |chunk: &Chunk<'_, T>| p.send(chunk));
    let finish: Finish = Box::new(move |consumer| shared.finish(consumer, name));
    Ok((f, finish))
}

/// The callback of per-chunk process mode: one child per chunk, its stdout is the result; the child must have
/// exited within `timeout` of its start, or it is killed and the chunk fails.
pub(crate) fn child_per_chunk<T: Sample>(command: Command, timeout: Duration) -> SharedFn<T, ProcessOutput> {
    let command = Mutex::new(command);
    Arc::new(move |chunk: &Chunk<'_, T>| {
        let deadline = Instant::now() + timeout;
        let mut bytes = Vec::new();
        T::extend_le_bytes(chunk.data(), &mut bytes);
        let len = bytes.len() as u64;
        let mut child = lock(&command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .env("OCYCLE_SEQ", chunk.seq().to_string())
            .env("OCYCLE_START", chunk.start().to_string())
            .env("OCYCLE_LEN", chunk.len().to_string())
            .spawn()?;
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill(&mut child);
            return Err("the child has no stdin or stdout".into());
        };
        // Feed stdin and read stdout on threads of their own, so that neither a chatty child nor one that never
        // reads can hold this one past the deadline.
        let (written_tx, written) = bounded(1);
        let (output_tx, output) = bounded(1);
        let started = std::thread::Builder::new()
            .name("ocycle-stdin".into())
            .spawn(move || {
                let _ = written_tx.send(stdin.write_all(&bytes));
            })
            .and_then(|_| {
                std::thread::Builder::new().name("ocycle-stdout".into()).spawn(move || {
                    let mut out = Vec::new();
                    let _ = output_tx.send(stdout.read_to_end(&mut out).map(|_| out));
                })
            });
        if let Err(e) = started {
            kill(&mut child);
            return Err(e.into());
        }
        let Ok(output) = output.recv_deadline(deadline) else {
            kill(&mut child);
            return Err(timed_out(format!("the child did not finish within {timeout:?}")));
        };
        let Some(status) = wait_until(&mut child, deadline)? else {
            kill(&mut child);
            return Err(timed_out(format!("the child did not exit within {timeout:?}")));
        };
        if !status.success() {
            return Err(format!("child exited with {status}").into());
        }
        let stdout = output?;
        match written.recv_deadline(deadline) {
            Ok(Ok(())) => {}
            // A child may legitimately stop reading early; its exit status is what counts.
            Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Ok(Err(e)) => return Err(e.into()),
            // The child succeeded, but something it started still holds its stdin: its exit status counts too.
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err("the stdin writer stopped".into()),
        }
        Ok(ProcessOutput { bytes: len, stdout })
    })
}

/// A persistent child, shared by its consumer's one worker (the callback) and the close hook.
struct Persistent {
    child: Mutex<Child>,
    state: Mutex<State>,
    from_writer: Receiver<(Vec<u8>, io::Result<()>)>,
    timeout: Duration,
}

struct State {
    /// Chunks' bytes to the writer thread; `None` once closed, which closes the child's stdin.
    to_writer: Option<Sender<Vec<u8>>>,
    /// The byte buffer, kept between chunks so that steady state allocates nothing.
    spare: Vec<u8>,
    /// Why the child takes no more input; every later chunk fails with it at once.
    broken: Option<String>,
}

impl Persistent {
    fn send<T: Sample>(&self, chunk: &Chunk<'_, T>) -> Result<ProcessOutput, BoxError> {
        let mut state = lock(&self.state);
        if let Some(why) = &state.broken {
            return Err(
                io::Error::new(io::ErrorKind::BrokenPipe, format!("the child takes no more input: {why}")).into()
            );
        }
        let mut bytes = std::mem::take(&mut state.spare);
        bytes.clear();
        T::extend_le_bytes(chunk.data(), &mut bytes);
        let len = bytes.len() as u64;
        // The writer is idle (every chunk waits for its acknowledgement), so this does not block.
        let sent = state.to_writer.as_ref().map(|tx| tx.send(bytes));
        if !matches!(sent, Some(Ok(()))) {
            state.broken = Some("the stdin writer stopped".into());
            return Err("the stdin writer stopped".into());
        }
        match self.from_writer.recv_timeout(self.timeout) {
            Ok((bytes, Ok(()))) => {
                state.spare = bytes;
                Ok(ProcessOutput { bytes: len, stdout: Vec::new() })
            }
            Ok((bytes, Err(e))) => {
                // Typically a broken pipe: the child exited or closed its stdin.
                state.spare = bytes;
                state.broken = Some(e.to_string());
                Err(e.into())
            }
            Err(RecvTimeoutError::Timeout) => {
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the child took no input for {:?}; killed", self.timeout),
                );
                state.broken = Some(e.to_string());
                // A child that stopped reading would hold the writer forever: end it.
                kill_only(&mut lock(&self.child));
                Err(e.into())
            }
            Err(RecvTimeoutError::Disconnected) => {
                state.broken = Some("the stdin writer stopped".into());
                Err("the stdin writer stopped".into())
            }
        }
    }

    fn finish(&self, consumer: usize, command: String) -> Result<(), Error> {
        // Closing the writer's channel closes the child's stdin, which tells it the stream ended.
        lock(&self.state).to_writer = None;
        let mut child = lock(&self.child);
        match wait_until(&mut child, Instant::now() + self.timeout) {
            Ok(Some(status)) if status.success() => Ok(()),
            Ok(Some(status)) => Err(Error::Child { consumer, command, status }),
            Ok(None) => {
                kill(&mut child);
                Err(Error::ChildTimeout { consumer, command, after: self.timeout })
            }
            Err(source) => Err(Error::Wait { consumer, command, source }),
        }
    }
}

/// The writer thread of a persistent child: writes each chunk's bytes and acknowledges it; drops stdin at the end.
fn feed(mut stdin: ChildStdin, jobs: &Receiver<Vec<u8>>, acks: &Sender<(Vec<u8>, io::Result<()>)>) {
    for bytes in jobs {
        let written = stdin.write_all(&bytes);
        if acks.send((bytes, written)).is_err() {
            break;
        }
    }
}

/// Waits for `child` to exit until `deadline`, polling, since std has no timed wait.
/// The pause between polls grows from 50 us to 10 ms: a child that exits promptly is seen promptly,
/// and one that does not costs little CPU.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Kills and reaps a child; it is past its deadline or no longer needed, so failures are moot.
fn kill(child: &mut Child) {
    kill_only(child);
    let _ = child.wait();
}

/// Kills a child without reaping it (`finish` reaps it and reports its status).
fn kill_only(child: &mut Child) {
    let _ = child.kill();
}

fn timed_out(message: String) -> BoxError {
    io::Error::new(io::ErrorKind::TimedOut, message).into()
}

/// Locks a mutex whatever a panicking holder left: the state it guards is valid between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
