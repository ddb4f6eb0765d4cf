"""Serializers of the ingestion API."""

from __future__ import annotations

from rest_framework import serializers

from ingestion.models import PollRun


class PollRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PollRun
        fields = [
            "id",
            "kind",
            "window_start",
            "window_end",
            "query_id",
            "status",
            "rows_read",
            "new_changes",
            "duplicates",
            "unparseable",
            "bytes_scanned",
            "error",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
