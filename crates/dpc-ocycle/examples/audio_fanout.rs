//! The audio use case: one 48 kHz stream feeding 0.5 s, 2 s and 10 s consumers.
//!
//! Run with `cargo run --release -p dpc-ocycle --example audio_fanout`.
//! The 0.5 s consumer measures loudness on the writer's thread, the 2 s consumer "transcribes" on a worker thread,
//! and the 10 s consumer pipes raw little-endian `f32` to `wc -c` (standing in for an encoder such as ffmpeg).

use std::process::Command;
use std::time::{Duration, Instant};

use dpc_ocycle::{Consumer, FanOut, Flush, Policy, SampleRate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rate = 48_000u64;
    let mut encoder = Command::new("wc");
    encoder.arg("-c");
    let mut fan = FanOut::<f32>::builder()
        .rate(SampleRate::hz(rate))
        .consumer(
            Consumer::serial(24_000, |chunk| {
                let rms = (chunk.iter().map(|x| x * x).sum::<f32>() / chunk.len() as f32).sqrt();
                Ok(rms)
            })
            .clip(true)
            .on_done(|done| {
                if done.seq % 20 == 0 {
                    println!(
                        "0.5 s chunk {:>3} at {:>6.2} s: rms {:.3}",
                        done.seq,
                        done.time.as_secs_f64(),
                        done.result.unwrap()
                    );
                }
            }),
        )
        .consumer(
            Consumer::threads(96_000, 1, |chunk| Ok(format!("{} samples from {:?}", chunk.len(), chunk.time())))
                .clip(true)
                .policy(Policy::DropOldest)
                .on_done(|done| {
                    if let Ok(text) = done.result
                        && done.seq.is_multiple_of(5)
                    {
                        println!("2 s chunk {:>3}: {text}", done.seq);
                    }
                }),
        )
        .consumer(Consumer::process(480_000, encoder).clip(true).flush(Flush::Pad(0.0)))
        .build()?;

    // One minute of a 440 Hz tone in 10 ms frames, timestamped as a capture device would.
    let start = Instant::now();
    let mut frame = vec![0.0f32; 480];
    for i in 0..6_000u64 {
        for (j, x) in frame.iter_mut().enumerate() {
            let t = (i * 480 + j as u64) as f32 / rate as f32;
            *x = (t * 440.0 * std::f32::consts::TAU).sin() * 0.5;
        }
        fan.write_at(&frame, Duration::from_millis(10 * i))?;
    }
    fan.close()?;
    println!("one minute of audio rebuffered in {:?}", start.elapsed());
    println!("{:#?}", fan.stats());
    Ok(())
}
