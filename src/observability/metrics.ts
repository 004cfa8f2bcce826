import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Numbers a queue exposes for scraping (the audit/assertion write queue). */
export interface QueueGaugeSource {
  stats(): { depth: number; written: number; failedAttempts: number; dropped: number; refused?: number; abandoned?: number };
}

/**
 * The service's Prometheus metrics, on a registry of its own (so several apps can live in one test process).
 * Labels are bounded sets (service ids, hooks, statuses, card types): never patient data, never tokens.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'cds_http_request_duration_seconds',
    help: 'HTTP request duration by route, CDS service, hook and status',
    labelNames: ['route', 'service', 'hook', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly cards = new Counter({ name: 'cds_cards_total', help: 'Cards returned, by service and card type', labelNames: ['service', 'type'] as const, registers: [this.registry] });
  readonly decisions = new Counter({ name: 'cds_coverage_decisions_total', help: 'Coverage decisions returned, by service and covered value', labelNames: ['service', 'covered'] as const, registers: [this.registry] });
  readonly feedback = new Counter({ name: 'cds_feedback_total', help: 'Feedback items received, by service and outcome', labelNames: ['service', 'outcome'] as const, registers: [this.registry] });
  readonly fhirFetch = new Histogram({
    name: 'cds_ehr_fhir_fetch_duration_seconds',
    help: 'Queries to the EHR FHIR server, by outcome (ok, not-found, failed, refused: a fhirServer not registered, never contacted)',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({ name: 'cds_auth_failures_total', help: 'CDS client JWTs refused', registers: [this.registry] });
  readonly knowledgePastReview = new Gauge({ name: 'cds_knowledge_past_review', help: 'Policies (PlanDefinitions) past their next review date', registers: [this.registry] });
  readonly expressionErrors = new Counter({ name: 'cds_knowledge_expression_errors_total', help: 'FHIRPath expressions of the knowledge that failed at run time, by policy (a knowledge bug; logged once per expression)', labelNames: ['policy'] as const, registers: [this.registry] });
  readonly storageWriteFailures = new Counter({ name: 'cds_storage_write_failures_total', help: 'Writes the service could not hand to storage (logged)', labelNames: ['what'] as const, registers: [this.registry] });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'cds_' });
  }

  /** Exposes a write queue's depth, writes, failed attempts and drops as gauges read at scrape time. */
  watchQueue(name: string, source: QueueGaugeSource): void {
    const read = (key: 'depth' | 'written' | 'failedAttempts' | 'dropped' | 'refused' | 'abandoned') => function (this: Gauge) {
      this.set(source.stats()[key] ?? 0);
    };
    new Gauge({ name: `cds_${name}_queue_depth`, help: `Items waiting in the ${name} write queue`, registers: [this.registry], collect: read('depth') });
    new Gauge({ name: `cds_${name}_queue_written`, help: `Items the ${name} queue has written`, registers: [this.registry], collect: read('written') });
    new Gauge({ name: `cds_${name}_queue_failed_attempts`, help: `Failed write attempts of the ${name} queue (retried)`, registers: [this.registry], collect: read('failedAttempts') });
    new Gauge({ name: `cds_${name}_queue_dropped`, help: `Write-behind items (audit rows of calls without decisions) the ${name} queue refused because it was full`, registers: [this.registry], collect: read('dropped') });
    // Durable writes (issue 13): refused whole when the queue is full, withdrawn when their commit wait ran out.
    // Either way the caller was answered 503 and no id was handed out.
    new Gauge({ name: `cds_${name}_queue_refused`, help: `Rows of calls the ${name} queue refused (full or closed); each call was answered 503`, registers: [this.registry], collect: read('refused') });
    new Gauge({ name: `cds_${name}_queue_abandoned`, help: `Rows the ${name} queue withdrew when their commit wait ran out; each call was answered 503`, registers: [this.registry], collect: read('abandoned') });
  }
}
