"""Step tests of the job's SQL (sql/flink/): each group of views on VALUES rows through
flink_jobs.job's overrides hook (harness/job_steps.py), expected rows written here."""
