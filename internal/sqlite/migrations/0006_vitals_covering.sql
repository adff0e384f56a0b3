-- Web vitals read one property's measurements of a window: the partial
-- index leads with the property and carries the five measurements, so
-- the read is one index range with no table lookups (a covering index).
-- Its predicate stays word for word internal/statsql's hasVitals.
DROP INDEX events_vitals_idx;
CREATE INDEX events_vitals_idx ON events (property_id, occurred_at, lcp_ms, inp_ms, cls, fcp_ms, ttfb_ms)
    WHERE lcp_ms IS NOT NULL OR inp_ms IS NOT NULL OR cls IS NOT NULL OR fcp_ms IS NOT NULL OR ttfb_ms IS NOT NULL;
