//! Draws the [`App`] into a ratatui frame: header, the frame's boxes, stats, queue, events, timeline, help.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Rectangle};
use ratatui::widgets::{Block, Paragraph, Wrap};

use dpc_core::LoadKind;

use super::app::{App, Cell, Shown};

/// The help line (also in the README and `docs/view.md`).
pub const HELP: &str =
    " ←/→ ±1  [/] ±5  PgUp/PgDn ±15  Home/End  g N ⏎ jump  space play  p predictor  +/- latency  q quit";

/// Track colours; a track keeps its colour as the cursor moves.
const PALETTE: [Color; 12] = [
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
];

/// Score bar heights, from nothing to full.
const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let [header, body, timeline, help] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(6), Constraint::Length(1)])
            .areas(f.area());
    f.render_widget(Paragraph::new(header_line(app)), header);
    f.render_widget(Paragraph::new(help_line(app)), help);
    draw_timeline(f, app, timeline);

    let side = (body.width / 2).min(36);
    let [canvas, right] = Layout::horizontal([Constraint::Min(0), Constraint::Length(side)]).areas(body);
    draw_frame(f, app, canvas);
    let [stats, queue, events] =
        Layout::vertical([Constraint::Length(16), Constraint::Fill(1), Constraint::Fill(2)]).areas(right);
    draw_stats(f, app, stats);
    draw_queue(f, app, queue);
    draw_events(f, app, events);
}

fn header_line(app: &App) -> Line<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let play = if app.playing { format!("▶ {:.0} fps", app.fps) } else { format!("paused ({:.0} fps)", app.fps) };
    Line::from(vec![
        Span::styled(format!(" frame {} / {}", app.cursor, app.last), bold),
        Span::raw(format!("  {}", app.file)),
        Span::raw("  predictor "),
        Span::styled(app.predictor_name().to_string(), bold.fg(Color::LightCyan)),
        Span::raw(format!("  latency {}  {play}", ms(app.latency))),
    ])
}

fn help_line(app: &App) -> Line<'static> {
    let dim = Style::new().fg(Color::Black).bg(Color::Gray);
    match &app.jump {
        Some(typed) => Line::styled(format!(" jump to frame: {typed}_   ⏎ go  Esc cancel"), dim),
        None => Line::styled(HELP, dim),
    }
}

fn draw_frame(f: &mut Frame<'_>, app: &App, area: Rect) {
    let (w, h) = app.image;
    let title = match &app.shown {
        Shown::Ready(frame) if frame.is_empty() => format!(" frame {}: no rows ", app.cursor),
        Shown::Ready(frame) if frame.len() == 1 => format!(" frame {}: 1 box ", app.cursor),
        Shown::Ready(frame) => format!(" frame {}: {} boxes ", app.cursor, frame.len()),
        Shown::Loading => format!(" frame {}: loading… ", app.cursor),
        Shown::Failed(_) => format!(" frame {}: failed ", app.cursor),
    };
    let block = Block::bordered().title(title);
    if let Shown::Failed(message) = &app.shown {
        let text = Paragraph::new(Line::styled(message.clone(), Color::LightRed)).wrap(Wrap { trim: false });
        f.render_widget(text.block(block), area);
        return;
    }
    let shown = &app.shown;
    let canvas = Canvas::default().block(block).marker(Marker::Braille).x_bounds([0.0, w]).y_bounds([0.0, h]).paint(
        move |ctx| match shown {
            Shown::Ready(frame) => {
                for d in frame.detections() {
                    let color = track_color(d.id);
                    // Image rows grow downwards, canvas y upwards.
                    ctx.draw(&Rectangle::new(d.left, h - d.top - d.height, d.width, d.height, color));
                }
                // Labels after all boxes, so a later box never hides an earlier label.
                for d in frame.detections() {
                    let x = d.left.clamp(0.0, w);
                    let y = (h - d.top).clamp(0.0, h);
                    ctx.print(x, y, Span::styled(d.id.to_string(), Style::new().fg(track_color(d.id))));
                }
            }
            Shown::Loading => ctx.print(w * 0.4, h * 0.5, "loading…"),
            Shown::Failed(_) => {}
        },
    );
    f.render_widget(canvas, area);
}

fn track_color(id: i64) -> Color {
    if id < 0 { Color::Gray } else { PALETTE[(id % PALETTE.len() as i64) as usize] }
}

fn draw_stats(f: &mut Frame<'_>, app: &App, area: Rect) {
    let s = &app.cache.stats;
    let t = &app.timings;
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let rows: Vec<(&str, String)> = vec![
        ("requests", s.requests().to_string()),
        ("hits", format!("{} ({})", s.hits, pct(s.hit_rate()))),
        ("late hits", s.late_hits.to_string()),
        ("misses", s.misses.to_string()),
        ("stalls", (s.late_hits + s.misses).to_string()),
        ("stall last", ms(t.last)),
        ("stall total", ms(t.total)),
        ("get p50", ms(t.p50)),
        ("get p99", ms(t.p99)),
        ("accuracy", pct(s.accuracy())),
        ("coverage", pct(s.coverage())),
        ("resident", format!("{} / {}", s.resident_entries, app.capacity)),
        ("weight", s.resident_weight.to_string()),
        ("prefetched", format!("{} ({} used)", s.prefetch_completed, s.prefetch_used)),
    ];
    let lines: Vec<Line<'_>> = rows
        .into_iter()
        .map(|(k, v)| Line::from(vec![Span::styled(format!(" {k:<12}"), Color::Gray), Span::raw(v)]))
        .collect();
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(" stats ")), area);
}

fn draw_queue(f: &mut Frame<'_>, app: &App, area: Rect) {
    let q = &app.cache.queued;
    let lines: Vec<Line<'_>> = q
        .iter()
        .take(area.height.saturating_sub(2) as usize)
        .map(|(k, score)| Line::from(format!(" {k:>8}  {score:.3}")))
        .collect();
    let title = format!(" prefetch queue ({}) ", q.len());
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

fn draw_events(f: &mut Frame<'_>, app: &App, area: Rect) {
    let lines: Vec<Line<'_>> = app
        .log
        .iter()
        .take(area.height.saturating_sub(2) as usize)
        .map(|l| {
            let style = if l.contains("error") { Style::new().fg(Color::LightRed) } else { Style::new() };
            Line::styled(format!(" {l}"), style)
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(" events ")), area);
}

fn draw_timeline(f: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::bordered().title(" timeline · scores · frames ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as i64;
    let frames: Vec<Option<u64>> = (0..width)
        .map(|i| {
            let f = app.cursor as i128 + (i - width / 2) as i128;
            u64::try_from(f).ok().filter(|&f| f >= app.first && f <= app.last)
        })
        .collect();

    let cells: Vec<Span<'_>> = frames
        .iter()
        .map(|f| match f {
            None => Span::raw(" "),
            Some(f) => {
                let (sym, style) = cell_look(app.cell(*f));
                Span::styled(sym.to_string(), style)
            }
        })
        .collect();

    let score = |f: u64| app.cache.predicted.iter().find(|&&(k, _)| k == f).map_or(0.0, |&(_, s)| s);
    let max = frames.iter().flatten().map(|&f| score(f)).fold(0.0_f64, f64::max);
    let bars: String = frames
        .iter()
        .map(|f| match f {
            Some(f) if max > 0.0 => BARS[((score(*f) / max) * 8.0).ceil().clamp(0.0, 8.0) as usize],
            _ => ' ',
        })
        .collect();

    // Frame numbers at multiples of ten, where they fit.
    let mut axis = vec![' '; width.max(0) as usize];
    let mut i = 0;
    while i < frames.len() {
        if let Some(f) = frames[i].filter(|f| f % 10 == 0) {
            let label = f.to_string();
            if i + label.len() <= axis.len() {
                for (j, c) in label.chars().enumerate() {
                    axis[i + j] = c;
                }
                i += label.len() + 1;
                continue;
            }
        }
        i += 1;
    }

    let legend = Line::from(vec![
        Span::styled("● current ", cell_look(Cell::Current).1),
        Span::styled("█ resident ", cell_look(Cell::Resident).1),
        Span::styled("▓ loading ", cell_look(Cell::Loading(LoadKind::Demand)).1),
        Span::styled("▒ prefetching ", cell_look(Cell::Loading(LoadKind::Prefetch)).1),
        Span::styled("░ queued ", cell_look(Cell::Queued).1),
        Span::styled("· absent", cell_look(Cell::Absent).1),
    ]);
    let lines = vec![
        Line::from(cells),
        Line::styled(bars, Color::Magenta),
        Line::styled(axis.into_iter().collect::<String>(), Color::Gray),
        legend,
    ];
    f.render_widget(Paragraph::new(lines), inner);
}

fn cell_look(cell: Cell) -> (char, Style) {
    match cell {
        Cell::Current => ('●', Style::new().fg(Color::White).add_modifier(Modifier::BOLD)),
        Cell::Resident => ('█', Style::new().fg(Color::Green)),
        Cell::Loading(LoadKind::Demand) => ('▓', Style::new().fg(Color::Red)),
        Cell::Loading(_) => ('▒', Style::new().fg(Color::Yellow)),
        Cell::Queued => ('░', Style::new().fg(Color::Blue)),
        Cell::Absent => ('·', Style::new().fg(Color::DarkGray)),
    }
}

/// A duration in milliseconds, with precision that suits its size.
fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}
