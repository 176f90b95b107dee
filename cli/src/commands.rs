//! The commands, each over the library's Rust API.

use crate::exit::Outcome;
use crate::interrupt::{self, TempFile};
use crate::output::{human_bytes, human_rate, print_stdout, stdout_error, Mode, Output};
use crate::{Command, Entity};
use opik_attachments::{
    Attachment, Client, Config, Counter, EntityType, Error, LogLevel, LogSink, Operation, Options,
    Status, DEFAULT_MAX_MEMORY, DEFAULT_MAX_QUEUED,
};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OK: Outcome = Outcome::Status(Status::Ok);

fn failed(out: &Output, what: Option<&str>, e: &Error) -> Outcome {
    out.error(what, e);
    Outcome::Status(e.status)
}

/// Makes the client: the configuration is resolved first so that its API key, wherever it came
/// from, is removed from everything printed.
fn client(opts: &Options, secrets: &mut Vec<String>) -> Result<Client, Error> {
    let config = Config::resolve(opts).map_err(|mut e| {
        // The library names its option; here the option is a flag.
        if e.status == Status::Config {
            e.message = e.message.replacen("the url option,", "--url,", 1);
        }
        e
    })?;
    if let Some(k) = &config.api_key {
        secrets.push(k.clone());
    }
    Client::with_config(config)
}

pub fn run(command: &Command, opts: Options, mut secrets: Vec<String>, out: &Output) -> Outcome {
    // Local checks (files exist, arguments make sense) come before the configuration.
    let result = match command {
        Command::Upload {
            entity,
            recursive,
            name,
            mime_type,
            files,
        } => {
            let mut skipped = Vec::new();
            let items = match gather(
                files,
                *recursive,
                name.as_deref(),
                mime_type.as_deref(),
                &mut skipped,
            ) {
                Ok(items) => items,
                Err(e) => return failed(out, None, &e),
            };
            for line in &skipped {
                out.warn(line);
            }
            let mut opts = opts;
            let memory: u64 = items
                .iter()
                .filter(|i| i.from_stdin)
                .map(|i| i.attachment.size())
                .sum();
            if memory >= DEFAULT_MAX_MEMORY {
                if let Err(e) = opts.set_queue_limits(DEFAULT_MAX_QUEUED as u32, memory + 1) {
                    return failed(out, None, &e);
                }
            }
            let c = match client(&opts, &mut secrets) {
                Ok(c) => c,
                Err(e) => return failed(out, None, &e),
            };
            let out = out.with_secrets(&secrets);
            return upload(&c, entity, items, &out);
        }
        Command::Download {
            entity,
            name,
            output,
        } => {
            if out.mode == Mode::Json && output.as_deref() == Some(Path::new("-")) {
                return failed(
                    out,
                    None,
                    &Error::invalid("--json and -o - both write to standard output; pick one"),
                );
            }
            // The destination is checked before any request.
            let dest = match destination(name, output.as_deref()) {
                Ok(d) => d,
                Err(e) => return failed(out, None, &e),
            };
            client(&opts, &mut secrets).and_then(|c| {
                let out = out.with_secrets(&secrets);
                download(&c, entity, name, &dest, &out)
            })
        }
        Command::List { entity } => client(&opts, &mut secrets).and_then(|c| {
            let out = out.with_secrets(&secrets);
            list(&c, entity, &out)
        }),
        Command::Delete {
            entity,
            ignore_missing,
            names,
        } => client(&opts, &mut secrets).and_then(|c| {
            let out = out.with_secrets(&secrets);
            delete(&c, entity, names, *ignore_missing, &out)
        }),
        Command::Trace {
            name,
            input,
            output,
            metadata,
            tag,
            attach,
            flush_timeout,
        } => {
            let mut attachments: Vec<Attachment> = Vec::new();
            for f in attach {
                match attachment_of_file(f, None, None) {
                    Ok(a) => {
                        // Attachments are keyed by name: a second one would replace the first.
                        if let Some(i) = attachments
                            .iter()
                            .position(|b| b.file_name() == a.file_name())
                        {
                            let e = Error::invalid(format!(
                                "{} and {} would both be attached as {:?}; attach only one \
                                 (upload the other with upload --name NAME)",
                                attach[i].display(),
                                f.display(),
                                a.file_name()
                            ));
                            return failed(out, None, &e);
                        }
                        attachments.push(a)
                    }
                    Err(e) => return failed(out, None, &e),
                }
            }
            // The help says "a JSON object": other JSON is refused, not wrapped.
            if let Some(m) = metadata {
                if serde_json::from_str::<serde_json::Value>(m).is_ok_and(|v| !v.is_object()) {
                    return failed(
                        out,
                        None,
                        &Error::invalid("--metadata must be a JSON object, e.g. '{\"run\": 4}'"),
                    );
                }
            }
            // Background failures reach the program only as log lines: keep the errors for the
            // message, and still print what OPIK_LOG asks for, as the library would.
            let errors = Arc::new(Mutex::new(Vec::<String>::new()));
            let shown = std::env::var("OPIK_LOG").ok().and_then(|v| log_level(&v));
            let mut opts = opts;
            let kept = errors.clone();
            let _ = opts.set_log(LogSink {
                max_level: shown.map_or(LogLevel::Error, |l| l.max(LogLevel::Error)),
                write: Arc::new(move |level, line| {
                    if level == LogLevel::Error {
                        if let Ok(mut e) = kept.lock() {
                            e.push(line.to_owned());
                        }
                    }
                    if shown.is_some_and(|s| level <= s) {
                        eprintln!(
                            "opik-attachments {}: {line}",
                            format!("{level:?}").to_uppercase()
                        );
                    }
                }),
            });
            client(&opts, &mut secrets).and_then(|c| {
                let out = out.with_secrets(&secrets);
                let fields = TraceFields {
                    name,
                    input: input.as_deref(),
                    output: output.as_deref(),
                    metadata: metadata.as_deref(),
                    tags: tag,
                };
                trace(
                    &c,
                    &fields,
                    &attachments,
                    Duration::from_secs(*flush_timeout),
                    &errors,
                    &out,
                )
            })
        }
    };
    match result {
        Ok(outcome) => outcome,
        Err(e) => failed(out, None, &e),
    }
}

// ---------------------------------------------------------------- upload

struct Item {
    /// What the user named (a path, or "-").
    shown: String,
    attachment: Attachment,
    from_stdin: bool,
}

/// A file as an attachment, with the command line's words in the errors the library would phrase
/// for its API (a FIFO, a name that is not UTF-8).
fn attachment_of_file(
    path: &Path,
    name: Option<&str>,
    mime_type: Option<&str>,
) -> Result<Attachment, Error> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot use {}", path.display()), &e))?;
    if meta.file_type().is_fifo() {
        return Err(Error::invalid(format!(
            "{0} is a FIFO; to upload what it delivers, give it as standard input: \
             upload ... --name NAME - < {0}",
            path.display()
        )));
    }
    if name.is_none() && path.file_name().and_then(|n| n.to_str()).is_none() {
        return Err(Error::invalid(format!(
            "{} has no UTF-8 base name; name the attachment with --name NAME",
            path.display()
        )));
    }
    Attachment::from_file(path, name, mime_type)
}

/// The inputs as attachments. Files a directory holds that cannot be uploaded (FIFOs, sockets,
/// devices, names that are not UTF-8, symbolic links to no regular file) are skipped, with a line
/// in `skipped` for each.
fn gather(
    files: &[PathBuf],
    recursive: bool,
    name: Option<&str>,
    mime_type: Option<&str>,
    skipped: &mut Vec<String>,
) -> Result<Vec<Item>, Error> {
    if name.is_some() && files.len() > 1 {
        return Err(Error::invalid(
            "--name names one attachment; give one input with it",
        ));
    }
    let mut items = Vec::new();
    for path in files {
        if path.as_os_str() == "-" {
            let Some(name) = name else {
                return Err(Error::invalid(
                    "uploading standard input (-) needs --name NAME",
                ));
            };
            let mut data = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut data)
                .map_err(|e| Error::io("cannot read standard input", &e))?;
            items.push(Item {
                shown: "standard input".into(),
                attachment: Attachment::from_bytes(data, name, mime_type)?,
                from_stdin: true,
            });
            continue;
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("cannot use {}", path.display()), &e))?;
        if meta.is_dir() {
            if !recursive {
                return Err(Error::invalid(format!(
                    "{} is a directory; pass --recursive to upload the files in it",
                    path.display()
                )));
            }
            if name.is_some() {
                return Err(Error::invalid(
                    "--name cannot name the files of a directory",
                ));
            }
            let mut found = Vec::new();
            walk(path, &mut found, skipped)?;
            if found.is_empty() {
                return Err(Error::invalid(format!(
                    "{} holds no files to upload",
                    path.display()
                )));
            }
            for f in found {
                items.push(Item {
                    shown: f.display().to_string(),
                    attachment: Attachment::from_file(&f, None, mime_type)?,
                    from_stdin: false,
                });
            }
        } else {
            items.push(Item {
                shown: path.display().to_string(),
                attachment: attachment_of_file(path, name, mime_type)?,
                from_stdin: false,
            });
        }
    }
    // Attachments are keyed by name: two inputs of one name would overwrite each other.
    let mut seen = std::collections::HashMap::new();
    for item in &items {
        if let Some(first) = seen.insert(item.attachment.file_name(), &item.shown) {
            return Err(Error::invalid(format!(
                "{} and {} would both be attached as {:?}; upload one of them separately with --name",
                first,
                item.shown,
                item.attachment.file_name()
            )));
        }
    }
    Ok(items)
}

/// Regular files under `dir`, sorted, following no symbolic links to directories; what cannot be
/// uploaded is skipped with a line in `skipped`.
fn walk(dir: &Path, found: &mut Vec<PathBuf>, skipped: &mut Vec<String>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot read {}", dir.display()), &e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot read {}", dir.display()), &e))?;
        paths.push(entry.path());
    }
    paths.sort();
    for p in paths {
        let meta = std::fs::symlink_metadata(&p)
            .map_err(|e| Error::io(format!("cannot use {}", p.display()), &e))?;
        let why = if meta.is_dir() {
            walk(&p, found, skipped)?;
            continue;
        } else if meta.file_type().is_symlink() && !p.is_file() {
            "a symbolic link to no regular file (links to directories are not followed)"
        } else if !meta.is_file() && !meta.file_type().is_symlink() {
            "not a regular file (a FIFO, socket or device)"
        } else if p.file_name().and_then(|n| n.to_str()).is_none() {
            "its name is not UTF-8 (upload it alone with --name NAME)"
        } else {
            found.push(p);
            continue;
        };
        skipped.push(format!("skipped {}: {why}", p.display()));
    }
    Ok(())
}

struct Running {
    item: Item,
    op: Option<Arc<Operation>>,
    bar: indicatif::ProgressBar,
    started: Instant,
    done: bool,
}

fn entity_json(et: EntityType, id: &str) -> (&'static str, String) {
    (et.as_str(), id.to_owned())
}

fn upload(client: &Client, entity: &Entity, items: Vec<Item>, out: &Output) -> Outcome {
    let (et, id) = entity.get();
    let project = client.config().project_name.clone();
    let total: u64 = items.iter().map(|i| i.attachment.size()).sum();
    let count = items.len();
    let start = Instant::now();
    let total_bar = (count > 1).then(|| out.bar(total, &format!("total, {count} files"), true));
    let mut first_failure: Option<Outcome> = None;
    let mut sent_ok = (0usize, 0u64);
    let mut running: Vec<Running> = Vec::new();
    for item in items {
        let a = &item.attachment;
        let bar = out.bar(a.size(), a.file_name(), false);
        out.event(&format!(
            "uploading {} ({}) to {} {id}",
            item.shown,
            human_bytes(a.size()),
            et.as_str()
        ));
        let op = match client.upload_async(None, et, id, a, None) {
            Ok(op) => Some(op),
            Err(e) => {
                bar.abandon_with_message(e.status.name());
                first_failure.get_or_insert(failed(out, Some(&item.shown), &e));
                None
            }
        };
        let done = op.is_none();
        running.push(Running {
            item,
            op,
            bar,
            started: Instant::now(),
            done,
        });
    }
    loop {
        let mut all_done = true;
        let mut position = 0u64;
        for r in running.iter_mut() {
            let Some(op) = &r.op else { continue };
            let sent = op.progress.sent.load(std::sync::atomic::Ordering::Relaxed);
            position += sent;
            if r.done {
                continue;
            }
            r.bar.set_position(sent);
            match op.result() {
                None => all_done = false,
                Some(result) => {
                    r.done = true;
                    let a = &r.item.attachment;
                    let took = r.started.elapsed();
                    match result {
                        Ok(()) => {
                            sent_ok.0 += 1;
                            sent_ok.1 += a.size();
                            r.bar.set_position(a.size());
                            r.bar.finish_with_message("done");
                            out.event(&format!(
                                "uploaded {} as {:?}: {} in {:.2} s ({})",
                                r.item.shown,
                                a.file_name(),
                                human_bytes(a.size()),
                                took.as_secs_f64(),
                                human_rate(a.size(), took)
                            ));
                            let (t, i) = entity_json(et, id);
                            out.json(&json!({
                                "ok": true,
                                "file": r.item.shown,
                                "name": a.file_name(),
                                "size": a.size(),
                                "mime_type": a.content_type(),
                                "entity_type": t,
                                "entity_id": i,
                                "project": project,
                                "seconds": took.as_secs_f64(),
                            }));
                        }
                        Err(e) => {
                            r.bar.abandon_with_message(e.status.name());
                            first_failure.get_or_insert(failed(out, Some(&r.item.shown), &e));
                        }
                    }
                }
            }
        }
        if let Some(b) = &total_bar {
            b.set_position(position);
        }
        if all_done {
            break;
        }
        if interrupt::interrupted() {
            return interrupt_uploads(client, &running, total_bar.as_ref(), out);
        }
        // Wakes as soon as the first unfinished upload completes, else after 50 ms to redraw.
        match running.iter().find(|r| !r.done).and_then(|r| r.op.as_ref()) {
            Some(op) => {
                let _ = op.wait(Duration::from_millis(50));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let took = start.elapsed();
    if let Some(b) = &total_bar {
        b.finish();
    }
    // The last frame stays on screen; the summary goes below it once the bars are gone.
    drop(total_bar);
    drop(running);
    let failures = count - sent_ok.0;
    let mut summary = format!(
        "uploaded {} of {count} file{} ({}) to {} {id} in {:.2} s ({})",
        sent_ok.0,
        if count == 1 { "" } else { "s" },
        human_bytes(sent_ok.1),
        et.as_str(),
        took.as_secs_f64(),
        human_rate(sent_ok.1, took)
    );
    if failures > 0 {
        summary.push_str(&format!("; {failures} failed"));
    }
    out.summary(&summary);
    first_failure.unwrap_or(OK)
}

fn interrupt_uploads(
    client: &Client,
    running: &[Running],
    total_bar: Option<&indicatif::ProgressBar>,
    out: &Output,
) -> Outcome {
    let unfinished: Vec<&Running> = running.iter().filter(|r| !r.done).collect();
    for r in &unfinished {
        r.bar.abandon_with_message("interrupted");
    }
    if let Some(b) = total_bar {
        b.abandon();
    }
    if let Some(dir) = &client.config().outbox_dir {
        // Not cancelled: closing the client stops them and keeps their records.
        out.info(&format!(
            "interrupted: {} unfinished upload(s) stay in the outbox {} and resume when a client opens it again",
            unfinished.len(),
            dir.display()
        ));
    } else {
        for r in &unfinished {
            if let Some(op) = &r.op {
                op.cancel();
            }
        }
        for r in &unfinished {
            if let Some(op) = &r.op {
                let _ = op.wait(Duration::from_secs(2));
            }
        }
        out.info(&format!(
            "interrupted: {} unfinished upload(s) cancelled",
            unfinished.len()
        ));
    }
    out.interrupted();
    Outcome::Interrupted
}

// ---------------------------------------------------------------- list, delete

fn not_found(client: &Client, et: EntityType, id: &str, name: &str) -> Error {
    Error::new(
        Status::NotFound,
        format!(
            "no attachment {name:?} on {} {id} in project {:?}",
            et.as_str(),
            client.config().project_name
        ),
    )
}

fn list(client: &Client, entity: &Entity, out: &Output) -> Result<Outcome, Error> {
    let (et, id) = entity.get();
    let entries = client.list(None, et, id)?;
    if out.mode == Mode::Json {
        for e in &entries {
            out.json(&json!({
                "file_name": e.file_name,
                "file_size": e.file_size,
                "mime_type": e.mime_type,
            }));
        }
        return Ok(OK);
    }
    let name_w = entries
        .iter()
        .map(|e| e.file_name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let size_w = entries
        .iter()
        .map(|e| e.file_size.to_string().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut stdout = std::io::stdout().lock();
    let mut write =
        |line: String| -> Result<(), Error> { writeln!(stdout, "{line}").map_err(stdout_error) };
    if !entries.is_empty() {
        write(format!(
            "{:<name_w$}  {:>size_w$}  MIME TYPE",
            "NAME", "SIZE"
        ))?;
    }
    let mut total = 0u64;
    for e in &entries {
        total += e.file_size;
        write(format!(
            "{:<name_w$}  {:>size_w$}  {}",
            e.file_name,
            e.file_size,
            e.mime_type.as_deref().unwrap_or("-")
        ))?;
    }
    stdout.flush().map_err(stdout_error)?;
    out.info(&format!(
        "{} attachment{} ({}) on {} {id}",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        human_bytes(total),
        et.as_str()
    ));
    Ok(OK)
}

fn delete(
    client: &Client,
    entity: &Entity,
    names: &[String],
    ignore_missing: bool,
    out: &Output,
) -> Result<Outcome, Error> {
    let (et, id) = entity.get();
    // The server does not say which names it had: look first, so a typo is an error.
    let present: std::collections::HashSet<String> = client
        .list(None, et, id)?
        .into_iter()
        .map(|e| e.file_name)
        .collect();
    let mut wanted: Vec<&str> = Vec::new();
    for n in names {
        if present.contains(n) {
            if !wanted.contains(&n.as_str()) {
                wanted.push(n);
            }
        } else if ignore_missing {
            out.info(&format!("skipped {n:?}: not on {} {id}", et.as_str()));
        } else {
            return Err(not_found(client, et, id, n));
        }
    }
    if !wanted.is_empty() {
        client.delete(None, et, id, &wanted)?;
    }
    for n in &wanted {
        out.event(&format!("deleted {n:?} from {} {id}", et.as_str()));
        out.json(&json!({"ok": true, "deleted": n, "entity_type": et.as_str(), "entity_id": id}));
    }
    out.info(&format!(
        "deleted {} attachment{} from {} {id}",
        wanted.len(),
        if wanted.len() == 1 { "" } else { "s" },
        et.as_str()
    ));
    Ok(OK)
}

// ---------------------------------------------------------------- download

fn interrupted_error() -> Error {
    Error::new(Status::Cancelled, "interrupted")
}

/// Where a download goes; checked (and symbolic links resolved) before any request.
pub enum Dest {
    Stdout,
    /// A regular file, existing or not: the bytes go to a temporary file beside `path`, renamed
    /// onto it at the end. `path` is the symbolic links' target; `shown` is what the user named.
    File {
        path: PathBuf,
        shown: PathBuf,
    },
    /// An existing FIFO, device or other special file: opened and written directly (no temporary
    /// file, nothing replaced).
    Special {
        path: PathBuf,
        shown: PathBuf,
    },
}

impl Dest {
    fn shown(&self) -> String {
        match self {
            Dest::Stdout => "standard output".to_owned(),
            Dest::File { shown, .. } | Dest::Special { shown, .. } => shown.display().to_string(),
        }
    }
}

fn io_error(message: String) -> Error {
    Error::new(Status::Io, message)
}

fn download(
    client: &Client,
    entity: &Entity,
    name: &str,
    dest: &Dest,
    out: &Output,
) -> Result<Outcome, Error> {
    let (et, id) = entity.get();
    // The size for the progress bar, and a clear error for a name the entity lacks.
    let size = client
        .list(None, et, id)?
        .into_iter()
        .find(|e| e.file_name == name)
        .map(|e| e.file_size)
        .ok_or_else(|| not_found(client, et, id, name))?;
    let bar = out.bar(size, name, false);
    let start = Instant::now();
    let mut outcome_interrupted = false;
    // Streams the attachment into `w`, then flushes it.
    let fetch = |w: &mut dyn Write, what: &str, closed_pipe_exits: bool| -> Result<u64, Error> {
        let wrap = |e: std::io::Error| {
            if closed_pipe_exits {
                stdout_error(e)
            } else {
                Error::io(format!("cannot write {what}"), &e)
            }
        };
        let n = client.download(None, et, id, name, None, |chunk| {
            if interrupt::interrupted() {
                return Err(interrupted_error());
            }
            w.write_all(chunk).map_err(wrap)?;
            bar.inc(chunk.len() as u64);
            Ok(())
        })?;
        w.flush().map_err(wrap)?;
        Ok(n)
    };
    let result = match dest {
        Dest::Stdout => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
            fetch(&mut w, "to standard output", true)
        }
        Dest::Special { path, shown } => {
            // Opened as it is: a FIFO waits here for its reader; nothing is created or replaced.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io(format!("cannot write {}", shown.display()), &e))?;
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
            fetch(&mut w, &shown.display().to_string(), false)
        }
        Dest::File { path, shown } => {
            let tmp = TempFile::register(temp_path_beside(path)?);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(tmp.path())
                .map_err(|e| {
                    Error::io(
                        format!(
                            "cannot write {} (its temporary file {})",
                            shown.display(),
                            tmp.path().display()
                        ),
                        &e,
                    )
                })?;
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
            let what = tmp.path().display().to_string();
            match fetch(&mut w, &what, false) {
                Ok(n) => {
                    let file = w
                        .into_inner()
                        .map_err(|e| Error::io(format!("cannot write {what}"), e.error()))?;
                    file.sync_all()
                        .map_err(|e| Error::io(format!("cannot write {what}"), &e))?;
                    drop(file);
                    if interrupt::interrupted() {
                        outcome_interrupted = true;
                        Err(interrupted_error()) // tmp is removed when dropped
                    } else {
                        tmp.persist(path).map_err(|e| {
                            Error::io(
                                format!("cannot move the download into {}", shown.display()),
                                &e,
                            )
                        })?;
                        Ok(n)
                    }
                }
                Err(e) => Err(e), // tmp is removed when dropped
            }
        }
    };
    match result {
        Ok(n) => {
            let took = start.elapsed();
            bar.finish_with_message("done");
            let shown = dest.shown();
            let line = format!(
                "downloaded {name:?} to {shown}: {} in {:.2} s ({})",
                human_bytes(n),
                took.as_secs_f64(),
                human_rate(n, took)
            );
            out.event(&line);
            if out.mode == Mode::Bars {
                out.summary(&line);
            }
            out.json(&json!({
                "ok": true,
                "name": name,
                "path": shown,
                "size": n,
                "entity_type": et.as_str(),
                "entity_id": id,
                "seconds": took.as_secs_f64(),
            }));
            Ok(OK)
        }
        Err(_) if outcome_interrupted || interrupt::interrupted() => {
            bar.abandon();
            out.interrupted();
            Ok(Outcome::Interrupted)
        }
        Err(e) => {
            bar.abandon();
            Err(e)
        }
    }
}

/// `-o FILE`, `-o DIR` (the attachment's name inside), `-o -`, or `./NAME`; checked before any
/// request. A directory that does not exist, or a destination that is a directory, is an IO
/// error (exit 4). Symbolic links are followed to the file they name, which is what gets
/// replaced; an existing FIFO or device is written directly.
pub fn destination(name: &str, output: Option<&Path>) -> Result<Dest, Error> {
    if output == Some(Path::new("-")) {
        return Ok(Dest::Stdout);
    }
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    let local_name = || {
        if plain {
            Ok(PathBuf::from(name))
        } else {
            Err(Error::invalid(format!(
                "{name:?} cannot be used as a local file name; choose one with -o FILE"
            )))
        }
    };
    let shown = match output {
        None => local_name()?,
        Some(p) if p.is_dir() => p.join(local_name()?),
        Some(p) if p.to_string_lossy().ends_with('/') => {
            return Err(io_error(format!(
                "the directory {} does not exist",
                p.display()
            )))
        }
        Some(p) => p.to_path_buf(),
    };
    let not_found_dir = |path: &Path| {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        (!dir.is_dir()).then(|| {
            io_error(format!(
                "cannot write {}: the directory {} does not exist",
                shown.display(),
                dir.display()
            ))
        })
    };
    // What the path names, symbolic links followed by the kernel (so /proc/self/fd/N, whose
    // link text is no path, works too).
    match std::fs::metadata(&shown) {
        Ok(m) if m.is_dir() => Err(io_error(format!(
            "{} is a directory; name the file to write with -o FILE",
            shown.display()
        ))),
        Ok(m) if m.is_file() => {
            // The rename must replace the file the link names, not the link.
            let link = std::fs::symlink_metadata(&shown).is_ok_and(|m| m.file_type().is_symlink());
            let path = if link {
                std::fs::canonicalize(&shown)
                    .map_err(|e| Error::io(format!("cannot use {}", shown.display()), &e))?
            } else {
                shown.clone()
            };
            Ok(Dest::File { path, shown })
        }
        // A FIFO, a device, a socket: opened through the path as it is.
        Ok(_) => Ok(Dest::Special {
            path: shown.clone(),
            shown,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Nothing there, or a dangling symbolic link: follow it to the file to create.
            let mut path = shown.clone();
            let mut hops = 0;
            while std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                hops += 1;
                if hops > 40 {
                    return Err(io_error(format!(
                        "{}: too many levels of symbolic links",
                        shown.display()
                    )));
                }
                let target = std::fs::read_link(&path)
                    .map_err(|e| Error::io(format!("cannot use {}", shown.display()), &e))?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            match not_found_dir(&path) {
                Some(e) => Err(e),
                None => Ok(Dest::File { path, shown }),
            }
        }
        Err(e) => Err(Error::io(format!("cannot use {}", shown.display()), &e)),
    }
}

fn temp_path_beside(dest: &Path) -> Result<PathBuf, Error> {
    let file_name = dest
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{} names no file", dest.display())))?
        .to_string_lossy();
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(dir.join(format!(".{file_name}.opik-download-{}", std::process::id())))
}

// ---------------------------------------------------------------- trace

struct TraceFields<'a> {
    name: &'a str,
    input: Option<&'a str>,
    output: Option<&'a str>,
    metadata: Option<&'a str>,
    tags: &'a [String],
}

fn trace(
    client: &Client,
    f: &TraceFields<'_>,
    attachments: &[Attachment],
    flush_timeout: Duration,
    errors: &Mutex<Vec<String>>,
    out: &Output,
) -> Result<Outcome, Error> {
    let mut t = client.trace(None, Some(f.name))?;
    if let Some(j) = f.input {
        t.set_input(j).map_err(|e| e.context("--input"))?;
    }
    if let Some(j) = f.output {
        t.set_output(j).map_err(|e| e.context("--output"))?;
    }
    if let Some(j) = f.metadata {
        t.set_metadata(j).map_err(|e| e.context("--metadata"))?;
    }
    for tag in f.tags {
        t.add_tag(tag).map_err(|e| e.context("--tag"))?;
    }
    for a in attachments {
        t.attach(a);
    }
    let id = t.id().to_owned();
    let project = t.project_name().to_owned();
    t.end()?;
    let start = Instant::now();
    loop {
        match client.flush(Duration::from_millis(200)) {
            Ok(()) => break,
            Err(e) if e.status == Status::Timeout => {
                if interrupt::interrupted() {
                    if let Some(dir) = &client.config().outbox_dir {
                        out.info(&format!(
                            "interrupted: trace {id} stays in the outbox {} and is sent when a client opens it again",
                            dir.display()
                        ));
                    }
                    out.interrupted();
                    return Ok(Outcome::Interrupted);
                }
                if start.elapsed() >= flush_timeout {
                    return Err(Error::new(
                        Status::Timeout,
                        format!(
                            "trace {id} was not sent within {} s",
                            flush_timeout.as_secs()
                        ),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    let entity_failures = client.counter(Counter::EntitiesFailed);
    let attachment_failures = client.counter(Counter::AttachmentsFailed);
    if entity_failures + attachment_failures > 0 {
        let detail = errors.lock().map(|e| e.join("; ")).unwrap_or_default();
        let (status, what) = if entity_failures > 0 {
            (Status::Http, format!("trace {id} was not accepted"))
        } else {
            (
                Status::Http,
                format!("{attachment_failures} attachment(s) of trace {id} were not uploaded"),
            )
        };
        let status = status_in(&detail).unwrap_or(status);
        let message = if detail.is_empty() {
            what
        } else {
            format!("{what}: {detail}")
        };
        return Err(Error::new(status, message));
    }
    if out.mode == Mode::Json {
        out.json(&json!({
            "ok": true,
            "trace_id": id,
            "project": project,
            "name": f.name,
            "attachments": attachments.len(),
        }));
    } else {
        print_stdout(&format!("{id}\n"))?;
        out.info(&format!(
            "logged trace {id} in project {project:?} with {} attachment{}",
            attachments.len(),
            if attachments.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(OK)
}

/// `OPIK_LOG`'s words, as the library reads them.
fn log_level(text: &str) -> Option<LogLevel> {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => Some(LogLevel::Error),
        "warn" | "warning" => Some(LogLevel::Warn),
        "info" => Some(LogLevel::Info),
        "debug" => Some(LogLevel::Debug),
        _ => None,
    }
}

/// The first library status named in the log lines (`... OPIK_ERR_AUTH: ...`), in the order
/// they were written.
fn status_in(text: &str) -> Option<Status> {
    Status::ALL
        .iter()
        .copied()
        .filter(|s| *s != Status::Ok)
        .filter_map(|s| {
            text.find(s.name())
                .map(|at| (at, std::cmp::Reverse(s.name().len()), s))
        })
        .min_by_key(|(at, len, _)| (*at, *len))
        .map(|(_, _, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_in_takes_the_first_status_written() {
        let text = "upload failed: OPIK_ERR_TIMEOUT: silent; then OPIK_ERR_AUTH: refused";
        assert_eq!(status_in(text), Some(Status::Timeout));
        let text = "OPIK_ERR_AUTH: refused; OPIK_ERR_HTTP: 500";
        assert_eq!(status_in(text), Some(Status::Auth));
        assert_eq!(status_in("nothing"), None);
    }
}
