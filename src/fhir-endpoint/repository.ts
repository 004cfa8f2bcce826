import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KnowledgeBase } from '../knowledge/knowledge-base';

/** A knowledge resource as the endpoint serves it: with `meta.versionId` and `meta.lastUpdated`. */
export interface StoredResource {
  resource: Record<string, unknown> & { resourceType: string; id: string };
  versionId: string;
  lastModified: Date;
}

/**
 * The knowledge as a read-only FHIR repository, built once at start. `meta.versionId` is a hash of the content
 * (so an ETag changes exactly when the resource does) and `meta.lastUpdated` the file's modification time.
 */
export class KnowledgeRepository {
  private readonly byType = new Map<string, Map<string, StoredResource>>();

  constructor(knowledge: KnowledgeBase) {
    for (const [key, r] of knowledge.resources) {
      const raw = r as unknown as Record<string, unknown> & { resourceType: string; id: string };
      const versionId = createHash('sha256').update(JSON.stringify(raw)).digest('hex').slice(0, 16);
      const file = knowledge.files.get(key);
      let lastModified = new Date(0);
      try {
        if (file) lastModified = statSync(resolve(file)).mtime;
      } catch {
        // a file that moved since load keeps the epoch; the ETag still identifies the content
      }
      lastModified.setMilliseconds(0);
      const meta = { ...((raw['meta'] as Record<string, unknown> | undefined) ?? {}), versionId, lastUpdated: lastModified.toISOString() };
      const stored: StoredResource = { resource: { ...raw, meta }, versionId, lastModified };
      const map = this.byType.get(raw.resourceType) ?? new Map<string, StoredResource>();
      map.set(raw.id, stored);
      this.byType.set(raw.resourceType, map);
    }
  }

  /** The resource types served, sorted. */
  types(): string[] {
    return [...this.byType.keys()].sort();
  }

  hasType(type: string): boolean {
    return this.byType.has(type);
  }

  read(type: string, id: string): StoredResource | undefined {
    return this.byType.get(type)?.get(id);
  }

  all(type: string): StoredResource[] {
    return [...(this.byType.get(type)?.values() ?? [])];
  }
}
