//! The terminal loop: raw mode and the alternate screen, input on its own thread, loads arriving from the
//! loader, a redraw after each key and otherwise at most every 50 ms.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};

use super::app::{App, Control, Msg};
use super::render;

/// The longest the screen goes without a redraw while the cache works in the background.
pub const REDRAW: Duration = Duration::from_millis(50);

/// Restores the terminal when dropped: on return, on error and while unwinding from a panic (ratatui's own
/// panic hook restores it before the panic message is printed, so the message is readable).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
    }
}

/// Runs the viewer until the user quits. `inbox` receives what `outbox` and the loader send.
pub fn run(app: &mut App, ctl: &mut dyn Control, inbox: &Receiver<Msg>, outbox: Sender<Msg>) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    // In raw mode Ctrl-C arrives as a key, not as SIGINT, and is handled like `q`.
    thread::Builder::new().name("dpc-view-input".into()).spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Resize(..)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => return,
            };
            if outbox.send(msg).is_err() {
                return;
            }
        }
    })?;

    app.start(ctl);
    terminal.draw(|f| render::draw(f, app))?;
    let mut drawn = Instant::now();
    while !app.quit {
        let next_draw = drawn + REDRAW;
        let wake = app.due().map_or(next_draw, |due| due.min(next_draw));
        let mut redraw = match inbox.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(Msg::Key(key)) => app.key(key, ctl, Instant::now()),
            Ok(Msg::Resize) => true,
            Ok(Msg::Loaded(loaded)) => app.loaded(loaded),
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if app.quit {
            break;
        }
        redraw |= app.tick(ctl, Instant::now());
        if redraw || drawn.elapsed() >= REDRAW {
            app.refresh(ctl);
            terminal.draw(|f| render::draw(f, app))?;
            drawn = Instant::now();
        }
    }
    Ok(())
}
