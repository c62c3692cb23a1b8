# The accessdrift worker for a real deployment (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
RUN useradd --create-home --uid 10001 accessdrift
COPY pyproject.toml README.md ./
COPY accessdrift ./accessdrift
COPY streams ./streams
COPY schemas ./schemas
COPY sinks ./sinks
RUN pip install --no-cache-dir .
USER accessdrift
ENV ACCESSDRIFT_DATA_DIR=/var/lib/accessdrift
VOLUME ["/var/lib/accessdrift"]
EXPOSE 6066
ENTRYPOINT ["accessdrift"]
CMD ["worker"]
