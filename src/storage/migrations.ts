/**
 * The schema, as numbered migrations applied in order (src/storage/migrate.ts). The same SQL runs on PGlite and
 * PostgreSQL. Never edit a migration that has shipped: add the next number. Keep each one safe for the previous
 * release to keep running against during a rolling deploy (add columns and tables; do not drop or rename).
 */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'initial schema',
    sql: `
-- What was decided for which order, quoted by claims and appeals (CRD coverage-assertion-id). No clinical payload:
-- the member is known only by a keyed hash of the coverage reference.
CREATE TABLE coverage_assertions (
  assertion_id    text PRIMARY KEY,
  decided_at      timestamptz NOT NULL,
  plan            text,
  policy          text NOT NULL,
  service_id      text NOT NULL,
  hook_instance   text NOT NULL,
  order_reference text NOT NULL,
  order_codes     jsonb NOT NULL DEFAULT '[]'::jsonb,
  covered         text NOT NULL,
  reason_code     text,
  reason_text     text,
  member_hash     text
);
-- Reports window on decided_at; retention deletes by it.
CREATE INDEX coverage_assertions_decided_at ON coverage_assertions (decided_at);

-- One row per answered hook call: who called, what came back, how fast. No request or response bodies.
CREATE TABLE invocation_audit (
  id            bigserial PRIMARY KEY,
  at            timestamptz NOT NULL,
  client_iss    text,
  service_id    text NOT NULL,
  hook          text NOT NULL,
  hook_instance text NOT NULL,
  status        int NOT NULL,
  latency_ms    real NOT NULL,
  cards_by_type jsonb NOT NULL DEFAULT '{}'::jsonb,
  decision_ids  text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX invocation_audit_at ON invocation_audit (at);

-- CDS Hooks feedback (accepted / overridden), as clinicians acted on the cards.
CREATE TABLE feedback (
  id                   bigserial PRIMARY KEY,
  received_at          timestamptz NOT NULL,
  service_id           text NOT NULL,
  card                 text NOT NULL,
  outcome              text NOT NULL,
  accepted_suggestions text[] NOT NULL DEFAULT '{}',
  override_system      text,
  override_code        text,
  override_display     text,
  user_comment         text,
  outcome_timestamp    timestamptz NOT NULL
);
-- A client that retries a feedback POST sends the same items again: this key stores each item once.
CREATE UNIQUE INDEX feedback_item ON feedback (service_id, card, outcome, outcome_timestamp, coalesce(override_code, ''));
CREATE INDEX feedback_received_at ON feedback (received_at);
CREATE INDEX feedback_outcome_timestamp ON feedback (outcome_timestamp);

-- Each client token's jti, remembered until the token expires, across replicas.
CREATE TABLE jti_replay (
  iss        text NOT NULL,
  jti        text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (iss, jti)
);
CREATE INDEX jti_replay_expires_at ON jti_replay (expires_at);
`,
  },
  {
    id: 2,
    name: 'coverage assertions keep pa-needed',
    sql: `
-- What a decision said about prior authorization (CRD pa-needed: no-auth, auth-needed …), for staff reading an
-- assertion in a claim or an appeal. Null for decisions made before this column existed, and where none was stated.
ALTER TABLE coverage_assertions ADD COLUMN pa_needed text;
`,
  },
];
