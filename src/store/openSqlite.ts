/**
 * Every SQLite file the tool keeps is opened here, so the pragmas live in one place:
 *
 * - writable stores: WAL (readers never block the writer, a killed process loses nothing
 *   committed), `synchronous = NORMAL` (in WAL mode a committed transaction survives a process
 *   crash; only power loss can drop the newest), and a busy timeout so two processes on one file
 *   wait for each other instead of failing;
 * - read-only views: a read-only connection with the same busy timeout, or, for a file no writer
 *   has open, an in-memory copy (a read-only connection to a WAL file would leave its -wal and -shm
 *   files behind).
 *
 * Foreign keys are enforced (better-sqlite3 builds SQLite with them on; set here so it does not
 * depend on the build).
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

/** An open SQLite connection. Stores that keep their own tables in another store's file take one. */
export type SqliteConnection = Database.Database;

/** How long a connection waits for another connection's write lock before failing (ms). */
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

export interface OpenSqliteOptions {
  /** Busy timeout in ms (default {@link DEFAULT_BUSY_TIMEOUT_MS}). */
  busyTimeoutMs?: number;
  /**
   * `auto_vacuum = INCREMENTAL`, so compaction can hand freed pages back to the file system. It
   * takes effect only on a file that has no table yet, so it is set before the schema.
   */
  incrementalVacuum?: boolean;
  /** Creates the file's directory when missing (default true). */
  createDirectory?: boolean;
}

/** Opens (creating it when missing) a writable store: `file` or ":memory:". */
export function openSqlite(file: string, options: OpenSqliteOptions = {}): SqliteConnection {
  if (file !== ":memory:" && options.createDirectory !== false) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
  try {
    // Must precede the first table: lets compaction hand freed pages back to the file system.
    if (options.incrementalVacuum) db.pragma("auto_vacuum = INCREMENTAL");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Opens an existing store for reading only; nothing in its directory is created or changed. While
 * a writer has the file open (its -wal exists) the connection is a read-only one to the file, which
 * sees the writer's committed work; otherwise it is an in-memory copy of the file.
 */
export function openSqliteReadOnly(file: string, options: { busyTimeoutMs?: number } = {}): SqliteConnection {
  if (fs.existsSync(`${file}-wal`))
    return new Database(file, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
  const image = fs.readFileSync(file);
  // Bytes 18-19 say "WAL mode"; an in-memory copy must read as a rollback-journal database.
  if (image.length > 19 && image[18] === 2 && image[19] === 2) {
    image[18] = 1;
    image[19] = 1;
  }
  return new Database(image, { readonly: true });
}
