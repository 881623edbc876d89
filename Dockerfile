# logsentinel HTTP server (`logsentinel serve`).
#
#   docker build -t logsentinel .
#   docker run -p 8000:8000 -v logsentinel-data:/app/data -e ADMIN_API_KEY=change-me logsentinel
#
# With the Elasticsearch sink: `docker build --build-arg FEATURES=elasticsearch -t logsentinel .` and run
# with `-e ES_URL=http://elasticsearch:9200`. Settings are environment variables (README: Configuration).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
ARG FEATURES=""
RUN cargo build --release --locked -p logsentinel-cli ${FEATURES:+--features "$FEATURES"} \
 && install -m 0755 target/release/logsentinel /usr/local/bin/logsentinel

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin logsentinel \
 && mkdir -p /app/data \
 && chown logsentinel /app/data
COPY --from=build /usr/local/bin/logsentinel /usr/local/bin/logsentinel
ENV HOST=0.0.0.0 \
    PORT=8000 \
    STORAGE_DIR=/app/data
WORKDIR /app
VOLUME ["/app/data"]
EXPOSE 8000
USER logsentinel
# SIGTERM (docker stop) finishes in-flight requests, then persists the detector's state.
STOPSIGNAL SIGTERM
ENTRYPOINT ["logsentinel"]
CMD ["serve"]
