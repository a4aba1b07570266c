"""Every default number and name the library uses, named once.

Other modules import from here rather than writing literals, so that a reader can see (and a
reviewer can question) every tunable in one place.
"""

from __future__ import annotations

from typing import Final

# --- Service -------------------------------------------------------------------------------
DEFAULT_BASE_URL: Final = "https://model-api.runcomfy.net/v1"
BASE_URL_ENV: Final = "RUNCOMFY_MODEL_API_BASE"
# Looked at in this order; the first one set wins. Peers read each of these names.
TOKEN_ENVS: Final = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_TOKEN", "RUNCOMFY_API_KEY")
LOGGER_NAME: Final = "runcomfy_async"

# --- HTTP ----------------------------------------------------------------------------------
CONNECT_TIMEOUT_S: Final = 10.0
# Between two reads of an answer (a server gone quiet), not for the whole request.
READ_TIMEOUT_S: Final = 60.0
# One whole attempt, upload included: it also bounds how long a shielded submit can hold up
# a cancellation. Sized for a 64 MiB body on a slow uplink.
TOTAL_TIMEOUT_S: Final = 300.0
# How often the transport's one deadline sweep looks at the attempts in flight: timeouts and
# callers' deadlines end an attempt within this much of their time. One sweep per client
# replaces a loop timer (or two) per request.
TIMEOUT_SWEEP_S: Final = 0.05
# A request body over this many bytes may take a while to upload: its read timeout is then
# timed by aiohttp from the end of the upload (exact, and rare), not by the sweep from the
# start of the attempt.
UPLOAD_TIMED_BY_AIOHTTP_BYTES: Final = 64 * 1024
# Below common server idle timeouts (60 s and more), so that we rarely reuse a connection
# the server is closing: for a submit, that race turns into an "outcome unknown".
KEEPALIVE_TIMEOUT_S: Final = 15.0
# Total connections the client's session may open, and per host. Polls and submits share them.
MAX_CONNECTIONS: Final = 100
MAX_CONNECTIONS_PER_HOST: Final = 100
# Bodies quoted in errors are cut to this many characters so that an HTML error page
# cannot flood a log line.
ERROR_BODY_QUOTE_CHARS: Final = 300
# A value quoted in a repr or an input problem is cut to this many characters.
REPR_CHARS: Final = 80
# A validation error's ``detail`` list: the items listed in its message at most, and each
# plain-text item cut to this many characters (a 422 may list every field of a large input).
ERROR_DETAILS_SHOWN: Final = 50
ERROR_DETAIL_CHARS: Final = 200
# A redirect's Location quoted in the error that refuses it: enough to recognise the host
# and path, not a signed URL's whole query.
REDIRECT_QUOTE_CHARS: Final = 120
# RunComfy caps a whole request at 64 MiB (data: URIs included).
MAX_REQUEST_BYTES: Final = 64 * 1024 * 1024
# A submit whose strings add up to this many characters is encoded in a thread: encoding
# tens of megabytes of data: URIs would otherwise stall the event loop for it.
ENCODE_OFF_LOOP_CHARS: Final = 1024 * 1024
# A JSON answer larger than this is refused rather than read into memory.
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
# An answer of up to this many bytes is read in one go; a longer one piece by piece, each
# piece restarting the read timeout.
ONE_READ_BYTES: Final = 64 * 1024
# What one result can make a batch do: output URLs acted on per job, the longest URL kept,
# and how deeply `output` is walked for URLs.
MAX_OUTPUTS_PER_JOB: Final = 64
MAX_OUTPUT_URL_CHARS: Final = 4096
MAX_OUTPUT_NESTING: Final = 16

# --- Retries (GETs, and submits that certainly did not arrive) ------------------------------
RETRY_MAX_ATTEMPTS: Final = 6
RETRY_INITIAL_DELAY_S: Final = 0.5
RETRY_MAX_DELAY_S: Final = 30.0
RETRY_MAX_ELAPSED_S: Final = 300.0
RETRY_MULTIPLIER: Final = 2.0
# A Retry-After longer than this is not slept through: the rate-limit error is raised instead.
RETRY_AFTER_CAP_S: Final = 120.0

# --- Waiting for one job ---------------------------------------------------------------------
POLL_FIRST_DELAY_S: Final = 1.0
POLL_GROWTH: Final = 1.5
POLL_MAX_DELAY_S: Final = 10.0
POLL_JITTER: Final = 0.1
WAIT_TIMEOUT_S: Final = 1800.0
# A cancel sent on the way out of a cancelled or expired wait may take at most this long:
# `wait(timeout=T)` returns within T plus this margin.
CANCEL_ON_EXIT_TIMEOUT_S: Final = 5.0
# At a wait's deadline, one last poll may take this long before the wait gives up.
WAIT_LAST_LOOK_S: Final = 1.0

# --- Batches ---------------------------------------------------------------------------------
MAX_IN_FLIGHT: Final = 64
MAX_CONCURRENT_REQUESTS: Final = 32
SUBMIT_BURST: Final = 20
MIN_SUBMIT_RATE_PER_S: Final = 0.5
# After a 429 the submit rate is multiplied by this (at most once per RATE_CUT_WINDOW_S),
# and grows back by RATE_RECOVERY_STEP
# for every RATE_RECOVERY_AFTER successful submits.
RATE_BACKOFF_FACTOR: Final = 0.7
RATE_RECOVERY_STEP: Final = 1.25
RATE_RECOVERY_AFTER: Final = 10
# 429s within this many seconds of a cut don't cut again (they answer older requests).
RATE_CUT_WINDOW_S: Final = 1.0
COOLDOWN_DEFAULT_S: Final = 1.0
BATCH_CANCEL_TIMEOUT_S: Final = 10.0
# Backoff between a batch's tries of a submit that could not get through (until the job's
# deadline), and between failing polls of one job.
BATCH_RETRY_FIRST_S: Final = 0.5
BATCH_RETRY_MAX_S: Final = 30.0
# A first poll due within this many seconds of the submit is made by the submitting worker.
INLINE_FIRST_POLL_S: Final = 0.005
# How many workers finish outcomes (journal writes, downloads) at once.
BATCH_FINISHERS: Final = 8
# The most cancels sent at once when a batch stops early.
BATCH_CANCEL_CONCURRENCY: Final = 16
# The model name a collected job's durations are learned under when its model is not given.
ATTACHED_MODEL_ID: Final = "attached"
# Journal entries read at a time when a batch resumes (memory stays bounded by this).
RESUME_PAGE_SIZE: Final = 256
# Adaptive polling: the fastest and slowest a pending job is polled, and the error budget.
ADAPTIVE_MIN_INTERVAL_S: Final = 0.001
ADAPTIVE_MAX_INTERVAL_S: Final = 15.0
ADAPTIVE_TARGET_LAG_FRACTION: Final = 0.035
# Durations remembered per model: enough for a stable fit of a log-normal's median and
# spread, few enough that a refit stays a fraction of a millisecond and the fit follows a
# model whose speed drifts within a few hundred jobs.
ADAPTIVE_WINDOW: Final = 256
# Durations needed before the fit is used: two at the very least (a spread), and a few more
# so that the first, quickest finishers do not make the schedule too early.
ADAPTIVE_MIN_SAMPLES: Final = 8
# A refit after this many new durations, and at most once per this many seconds: the fit
# barely moves with one more duration, and a fast batch must not spend its loop refitting.
ADAPTIVE_REFIT_EVERY: Final = 16
ADAPTIVE_REFIT_INTERVAL_S: Final = 0.5
# When a batch stops early, the request ids it could not cancel are logged, this many at most
# (every one of them is in the cancel report and the journal anyway).
BATCH_STOP_IDS_LOGGED: Final = 20

# --- Downloads -------------------------------------------------------------------------------
DOWNLOAD_CONCURRENCY: Final = 8
DOWNLOAD_MAX_BYTES: Final = 512 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES: Final = 256 * 1024
DOWNLOAD_MAX_ATTEMPTS: Final = 4
DOWNLOAD_ALLOWED_HOST_SUFFIXES: Final = ("runcomfy.net", "runcomfy.com")

# Redirect hops followed for one output URL before giving up.
DOWNLOAD_MAX_REDIRECTS: Final = 5
# Longest slug of a label in a file name; the index prefix keeps names unique anyway.
DOWNLOAD_SLUG_MAX_CHARS: Final = 48

# The manifest a batch appends to in its download folder, one JSON outcome per line.
MANIFEST_NAME: Final = "manifest.jsonl"
# Digits of the zero-padded input index at the start of every file name (and of every
# partial file's name, which is how a killed run's leftovers are found per index).
DOWNLOAD_INDEX_DIGITS: Final = 6

# --- Journal ---------------------------------------------------------------------------------
# Most operations one group-commit transaction takes, so that a burst of writers cannot make
# one transaction (and the wait of the first writer in it) grow without bound.
JOURNAL_MAX_BATCH_OPS: Final = 2048
# How long a write waits for a lock held by another connection (a reader, a backup tool).
JOURNAL_BUSY_TIMEOUT_MS: Final = 5000
# What one job may put in the journal and the manifest besides its output URLs: a result's
# raw JSON, or an error, longer than this many characters is kept shortened (state,
# timestamps, cost and every output URL stay whole), so that a verbose or hostile answer
# cannot write hundreds of kilobytes per job.
MAX_JOURNALED_JSON_CHARS: Final = 16 * 1024
# The manifest keeps an input whole while its JSON may be up to this long (counted without
# encoding, at the longest escaping); beyond, its strings over the second bound are cut: an
# inline image's megabytes stay in the journal only.
MAX_MANIFEST_INPUT_CHARS: Final = 64 * 1024
MAX_MANIFEST_INPUT_STRING_CHARS: Final = 4 * 1024
# A batch remembers the request ids of this many of its latest ended jobs (beside every
# pending one) to catch a service that gives an id twice; a window, not every id, so that a
# batch of any length holds only what is in flight plus this.
REPEATED_ID_WINDOW: Final = 10_000

# --- Catalog and validation ------------------------------------------------------------------
# Models asked for per page when listing the whole catalog.
CATALOG_PAGE_SIZE: Final = 100
# Distinct schemas whose compiled validators are kept (a catalog has a few hundred models;
# a batch uses one or two).
VALIDATOR_CACHE_SIZE: Final = 128

# --- Images sent as inputs -------------------------------------------------------------------
# Ideogram's own spec caps an input image at 10 MB; newer pages allow 25 MB. We take the
# larger so as not to refuse what the service takes; the whole request stays under 64 MiB.
MAX_INPUT_IMAGE_BYTES: Final = 25 * 1024 * 1024
# A mask grey level at or above this counts as white, below it as black: JPEG noise in a
# black-and-white mask must not make it look partial or full.
MASK_WHITE_FROM: Final = 128
# A value quoted in an input error is abbreviated, so that a data: URI or a file's bytes
# cannot put megabytes into a message: bytes longer than ABBREVIATE_BYTES_OVER are shown by
# their size, text longer than ABBREVIATE_TEXT_OVER by its first ABBREVIATED_TEXT_CHARS
# characters and its length.
ABBREVIATE_BYTES_OVER: Final = 64
ABBREVIATE_TEXT_OVER: Final = 200
ABBREVIATED_TEXT_CHARS: Final = 48
# An image URL's repr is cut to this many characters (its query string is never shown).
IMAGE_URL_REPR_CHARS: Final = 100

# --- Internals of the policies, the transport and the outcome repr ------------------------------
# Durations shorter than this are treated as this (a log-normal needs positive values).
ADAPTIVE_SHORTEST_S: Final = 1e-3
# The spread assumed at the least, so that a run of identical durations still gets a
# few polls around them rather than a single poll at exactly the same instant.
ADAPTIVE_MIN_SIGMA: Final = 0.05
# Most polls in one fitted schedule; past its end, polls back off geometrically.
ADAPTIVE_MAX_SCHEDULE: Final = 400
# The largest share of the still-running jobs expected to finish between two polls.
ADAPTIVE_MAX_SHARE_PER_POLL: Final = 0.1
# After the schedule ends, each further poll waits this fraction of the age (tail backoff).
ADAPTIVE_TAIL_GROWTH: Final = 0.25

# The window over which the achieved submit rate is measured when the first 429 arrives.
RATE_MEASURE_WINDOW_S: Final = 2.0
# A cut never goes below this fraction of the best rate achieved so far. With random 429s
# (a noisy service rather than a real limit) every window holds one, and cuts alone would
# drive the rate to its floor; the Retry-After cool-down still holds requests back meanwhile.
RATE_PEAK_FLOOR_FRACTION: Final = 0.25
# The peak rate is measured every this many successes (measuring costs a little per call).
RATE_PEAK_EVERY: Final = 32
# The shortest span a rate is measured over, so that two quick successes don't read as 1000/s.
RATE_MIN_MEASURE_S: Final = 0.25

# Submit URLs kept built (one per model id seen).
MODEL_URLS_KEPT: Final = 1024

# Inputs may carry megabytes of base64 images: a repr shows only their start.
OUTCOME_REPR_CHARS: Final = 120

# --- The command line: only about what a person sees ---------------------------------------
# The journal and gallery a batch keeps in its output folder, unless told otherwise.
JOURNAL_FILE_NAME: Final = "journal.sqlite"
GALLERY_FILE_NAME: Final = "index.html"

# An in-process sandbox (--sandbox) runs the models' realistic durations this much faster:
# Ideogram v3 takes about 8 s per image, so a 30-prompt batch on 8 workers takes ~4 s.
SANDBOX_TIME_SCALE: Final = 0.1

# How often the live display is redrawn on a terminal, and a progress line is written
# when stderr is not one (a log file should not fill up with redraws).
LIVE_REFRESH_S: Final = 0.25
PLAIN_PROGRESS_INTERVAL_S: Final = 5.0

# Input problems listed before "... and N more": enough to see a pattern, not a flood.
PROBLEMS_SHOWN: Final = 50
# Request ids listed in a cancel report line.
REQUEST_IDS_SHOWN: Final = 10

# Texts cut to this many characters where they must stay on one line or in one cell.
ERROR_TEXT_CHARS: Final = 300
SCHEMA_DEFAULT_CHARS: Final = 60

# The width of the live display's progress bar, in characters.
CLI_BAR_WIDTH: Final = 40
# Bits of the sandbox's seed: plenty to make request ids of two runs differ.
CLI_SANDBOX_SEED_BITS: Final = 63

# Failure lines printed one by one; after them, one line per this many more failures, and
# the count at the end (every failure is in the manifest anyway). -v prints them all.
FAILURE_LINES_SHOWN: Final = 20
FAILURE_LINES_EVERY: Final = 100

# Standard input (batch -) is read this much at a time, as the batch pulls inputs: memory
# stays bounded however long the stream. One line may be as long as a whole request.
STDIN_CHUNK_BYTES: Final = 64 * 1024
STDIN_MAX_LINE_BYTES: Final = 64 * 1024 * 1024

# An unknown input field is matched against the model's fields by difflib at this
# similarity (0 to 1) for a "did you mean"; the fields listed when nothing matches.
DID_YOU_MEAN_CUTOFF: Final = 0.6
FIELD_NAMES_SHOWN: Final = 12

# --- Schema checks -------------------------------------------------------------------------------
# An enum longer than this is quoted in part in a message (reframe has 69 sizes).
ENUM_VALUES_SHOWN: Final = 12

# --- Single jobs on the command line -------------------------------------------------------------
# The index a single job's files are named with: 000000-a-red-fox.png.
CLI_SINGLE_JOB_INDEX: Final = 0

# --- The gallery ---------------------------------------------------------------------------------
# A prompt longer than this is cut (the search looks in what is kept).
GALLERY_PROMPT_CHARS: Final = 2000
# A field's value longer than this is cut (an input can hold a data: URI of megabytes).
GALLERY_VALUE_CHARS: Final = 160

# --- The gallery's pages -------------------------------------------------------------------------
# Cards on one page: enough to scroll through, few enough to draw at once.
GALLERY_PAGE_SIZE: Final = 100

# --- Gallery thumbnails --------------------------------------------------------------------------
THUMB_QUALITY: Final = 82
# Decoding and resizing release the GIL: a few threads make thousands of images go faster.
THUMB_MAX_WORKERS: Final = 8

# --- Notebook display ----------------------------------------------------------------------
# The largest side of a thumbnail in a result's or an outcome's notebook card, in pixels.
NOTEBOOK_THUMB_PX: Final = 256
# A line of text in a notebook card is cut to this many characters.
NOTEBOOK_TEXT_CHARS: Final = 300

# --- One poll scheduler per client (wait and run) ------------------------------------------
# Polls of one client's waits in flight at once (and never more than its max_connections):
# 500 concurrent `run` calls share these, like a batch's max_concurrent_requests.
WAIT_MAX_CONCURRENT_POLLS: Final = 32
# How `run` spaces polls once it has learned a model's durations. A wait holds no batch slot
# (its lag costs no makespan), so it trades lag for requests more than a batch does: with
# these, lag stays below what the geometric PollSchedule gives, at fewer requests per job.
WAIT_TARGET_LAG_FRACTION: Final = 0.15
WAIT_MAX_SHARE_PER_POLL: Final = 0.3
# Durations are learned in submission order (the first to finish are the shortest: learning
# from them would skew the fit); one job may hold back at most this many finished after it.
WAIT_LEARN_MAX_HELD: Final = 1024

# --- The adaptive planner's fit and cold start (issue #18) ----------------------------------
# A fitted schedule reaches this many sigmas past the median (log scale), or the longest
# duration seen if later.
ADAPTIVE_HORIZON_SIGMAS: Final = 3.5
# A refit integrates the hazard on a grid of standard scores, from LOW to HIGH in STEPs
# (below LOW nothing finishes; above HIGH the hazard's asymptote is used, step by step).
ADAPTIVE_GRID_Z_LOW: Final = -6.0
ADAPTIVE_GRID_Z_HIGH: Final = 8.0
ADAPTIVE_GRID_Z_STEP: Final = 0.1
# Candidate schedules one refit builds at most while calibrating, and how far from the
# target lag a calibrated schedule may land (closer costs more candidates, not better polls).
ADAPTIVE_FIT_CANDIDATES: Final = 8
ADAPTIVE_FIT_TOLERANCE: Final = 0.05
# Until a candidate's lag brackets the target, the next constant is the last times
# target / lag, by at most this factor; a bracketed candidate keeps this fraction of the
# bracket (log scale) on each side, so that the bracket shrinks every time.
ADAPTIVE_FIT_MAX_RESCALE: Final = 16.0
ADAPTIVE_FIT_BRACKET_MARGIN: Final = 0.1
# Cold start (fewer than min_samples durations known): each poll waits this fraction of the
# job's age (its first answer's age is one measured round trip: 1 doubles the age at each
# poll), at most the cap and a fraction of the shortest duration seen, jittered.
ADAPTIVE_COLD_AGE_FRACTION: Final = 1.0
ADAPTIVE_COLD_SHORTEST_FRACTION: Final = 0.5
ADAPTIVE_COLD_MAX_DELAY_S: Final = 5.0
ADAPTIVE_COLD_JITTER: Final = 0.1

# --- Cost ------------------------------------------------------------------------------------
# Dollar figures in JSON are rounded to this many decimals (a millionth of a dollar): sums of
# prices like 0.06 carry binary noise that says nothing.
USD_DIGITS: Final = 6
