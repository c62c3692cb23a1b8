# The accessdrift worker for a real deployment (see docker-compose.yml).
# An exact release, like every image of docker-compose.yml: a rebuild gets the same Python
# and the same Debian (tests/unit/test_dockerfile.py).
FROM python:3.11.14-slim-bookworm
WORKDIR /app
# The state folder exists and is the worker's before VOLUME declares it: Docker copies the
# image folder's owner and mode into a new named volume, which would otherwise be root's
# (755) and refuse every write of uid 10001.
RUN useradd --create-home --uid 10001 accessdrift \
    && mkdir -p /var/lib/accessdrift \
    && chown accessdrift:accessdrift /var/lib/accessdrift
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
