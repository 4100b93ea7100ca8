// Types of the untyped `parse-prometheus-text-format` package (output shaped like prom2json's).
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface PromFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: PromSample[];
  }
  /** Parses Prometheus text exposition; throws on a malformed line. */
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
