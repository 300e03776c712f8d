# The image the manifests in deploy/ run: Node.js 24 runs the TypeScript
# sources directly, so there is no build stage.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY src ./src
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/etcd-monitor.js"]
