# The accessdrift worker for a real deployment (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
RUN useradd --create-home --uid 10001 accessdrift
# Exactly what the wheel is built from (tests/integration/test_wheel.py builds it from these alone).
COPY pyproject.toml README.md LICENSE ./
COPY accessdrift ./accessdrift
RUN pip install --no-cache-dir .
USER accessdrift
ENV ACCESSDRIFT_DATA_DIR=/var/lib/accessdrift
VOLUME ["/var/lib/accessdrift"]
EXPOSE 6066
ENTRYPOINT ["accessdrift"]
CMD ["worker"]
