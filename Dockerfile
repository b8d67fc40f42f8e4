# One image recipe for every service: docker build --build-arg SERVICE=billing -t parley-billing .
# Services run their TypeScript through tsx, exactly as in development and tests.
FROM node:20-bookworm-slim AS base
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
RUN corepack enable
WORKDIR /app

FROM base AS deps
ARG SERVICE
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY patches patches
COPY packages/proto/package.json packages/proto/
COPY packages/kit/package.json packages/kit/
COPY packages/testing/package.json packages/testing/
COPY services/${SERVICE}/package.json services/${SERVICE}/
RUN pnpm install --frozen-lockfile --filter "@parley/${SERVICE}-service..." --filter parley

FROM deps AS runtime
ARG SERVICE
ENV NODE_ENV=production SERVICE=${SERVICE}
COPY tsconfig.base.json ./
COPY packages/proto packages/proto
COPY packages/kit packages/kit
COPY services/${SERVICE} services/${SERVICE}
USER node
WORKDIR /app/services/${SERVICE}
CMD ["node", "--import", "tsx", "src/main.ts"]
