import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/** The data directory's owner, as written in its lock file. */
interface Owner {
  pid: number;
  host: string;
}

/** A lock held by this process; `release` is idempotent. */
export interface DataDirLock {
  readonly file: string;
  release(): void;
}

/** Why a second process may not open the data directory; the message names the directory and the owner. */
export class DataDirInUseError extends Error {
  constructor(readonly dir: string, readonly file: string, owner: Owner | undefined) {
    super(`The embedded database directory ${dir} is in use by another process${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''}: `
      + `its lock file ${file} exists. Stop that process, or give this one its own DATA_DIR. If no process owns it, delete the lock file.`);
    this.name = 'DataDirInUseError';
  }
}

function readOwner(file: string): Owner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Owner>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the owner recorded in a lock file is certainly gone: a process on this host that no longer exists
 * (`kill -9` leaves its lock behind), or this very process's pid (a container restarted with the same pid 1 — this
 * process never took the lock, or it would be refused earlier, in `openPglite`). A lock from another host, or one
 * that cannot be read, is never presumed stale.
 */
function isStale(owner: Owner | undefined): boolean {
  if (!owner || owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    // ESRCH: no such process. EPERM: it exists under another user — alive.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Takes the data directory for this process alone. PGlite is single-process Postgres with no postmaster to refuse a
 * second opener: two processes on one directory each replay and overwrite the other's WAL, and committed rows
 * vanish (issue 13, case 6). The lock is a file created with O_EXCL (atomic on local file systems) holding the
 * pid and host; a lock left by a dead process on this host is taken over once.
 */
export function lockDataDir(dir: string, file: string): DataDirLock {
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new Error(`The embedded database's lock file ${file} could not be created: ${(err as Error).message}`, { cause: err });
      const owner = readOwner(file);
      if (attempt === 0 && isStale(owner)) {
        try {
          unlinkSync(file);
        } catch {
          // Another starter removed it first; the next O_EXCL open decides which of us owns the directory.
        }
        continue;
      }
      throw new DataDirInUseError(dir, file, owner);
    }
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      process.removeListener('exit', release);
      // Only our own lock: a lock file rewritten by a process that took over a presumed-stale lock is not ours.
      if (readOwner(file)?.pid !== process.pid) return;
      try {
        unlinkSync(file);
      } catch {
        // Already gone.
      }
    };
    // An exit that skips the orderly close (process.exit after a fatal error) still frees the directory.
    process.once('exit', release);
    return { file, release };
  }
}
