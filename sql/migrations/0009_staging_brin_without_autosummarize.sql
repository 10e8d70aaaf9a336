-- provider_catalogs' block-range index on provider_slug is no longer summarized on the fly. A large COPY into
-- staging outran autosummarize's work-item queue, and the server logged "request for BRIN range
-- summarization for index ... was not recorded" once per range it dropped: 4,741 lines for one 1M-model
-- first load, in the log where operators look for real errors. The one statement that reads staging
-- through this index, a first load's build (sql/refresh_models.sql, fill_building), summarizes the new
-- ranges itself first (summarize_staging); VACUUM summarizes them too.
ALTER INDEX provider_catalogs_provider_brin SET (autosummarize = off);
