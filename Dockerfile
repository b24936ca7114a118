# Meridian's image: `meridian controller` and `meridian proxy` (and every other command), as
# deploy/ runs them. Build and push it where your clusters pull from:
#   docker build -t ghcr.io/meridian/meridian:0.1.0 .
#   docker run --rm ghcr.io/meridian/meridian:0.1.0 --help
# test/integration/deploy/dockerfile.test.ts builds the runtime stage's file tree from the COPY
# lines below and runs the entrypoint from it, so a file the code needs and the image lacks fails
# a test (there is no container engine in CI).

# -- build: TypeScript to dist/ ------------------------------------------------------------------
FROM node:20-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
# No lifecycle scripts: `prepare` would build before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN npm run build

# -- runtime: production dependencies, the compiled code and the files it reads -----------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /build/dist/ dist/
# Read at run time through import.meta.url: the region table and country centroids (routing),
# the Cluster CRD (`meridian sandbox`), the seed's manifests (`meridian demo`), the status page
# (`/ui` on the proxy's admin port). package.json (above) gives `meridian --version`. The GeoIP
# database, and the status page's map and chart libraries, come with node_modules.
COPY geoip/ geoip/
COPY ui/ ui/
COPY deploy/crds/ deploy/crds/
COPY examples/ examples/
# The base image's `node` user, numerically, so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 9901 9902
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
