# Chirp server image: chirpd (Release) plus the built web client, on Debian 12.
#
# Three stages: `web` builds the browser client with Node 20 (Debian 12's nodejs is 18,
# too old for Vite 7), `build` compiles chirpd with the Debian -dev packages, and the
# runtime stage carries only chirpd, the web files and the shared libraries chirpd loads.
# Used by docker-compose.yml; configuration is the CHIRP_* environment (chirpd --help).

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM debian:bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake ninja-build g++ pkg-config \
        libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
        libhiredis-dev libpqxx-dev nlohmann-json3-dev libspdlog-dev libsodium-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY include/ include/
COPY src/ src/
COPY migrations/ migrations/
COPY sql/ sql/
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHIRP_BUILD_TESTS=OFF \
    && cmake --build build --target chirpd \
    && strip build/chirpd

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libboost-url1.81.0 libhiredis0.14 libpqxx-6.4 libsodium23 libspdlog1.10 libfmt9 \
        libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin chirp
COPY --from=build /src/build/chirpd /usr/local/bin/chirpd
COPY --from=web /src/web/dist /usr/share/chirp/web
USER chirp
ENV CHIRP_PORT=8000 \
    CHIRP_BIND=0.0.0.0 \
    CHIRP_WEB_ROOT=/usr/share/chirp/web \
    CHIRP_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chirpd"]
