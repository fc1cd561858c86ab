#!/bin/sh
# One-shot, at every `docker compose up`: the bucket exists and is private, and the app's own
# account can reach that bucket and nothing else. Idempotent; stops on any error (compose then
# starts nothing that needs it). Reads secrets from files; never echoes them, never writes them
# to disk (the root credentials go in an environment variable, not mc's config file).
set -eu
export MC_HOST_local="http://$(cat /run/secrets/minio_root_user):$(cat /run/secrets/minio_root_password)@minio:9000"
app_user=$(cat /run/secrets/s3_access_key)
app_password=$(cat /run/secrets/s3_secret_key)
mc mb --ignore-existing local/tipline >/dev/null
mc anonymous set none local/tipline >/dev/null
cat > /tmp/tipline-policy.json <<POLICY
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetBucketPolicy"],
   "Resource": ["arn:aws:s3:::tipline"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
   "Resource": ["arn:aws:s3:::tipline/*"]}]}
POLICY
mc admin policy create local tipline-app /tmp/tipline-policy.json >/dev/null
mc admin user add local "$app_user" "$app_password" >/dev/null
if ! out=$(mc admin policy attach local tipline-app --user "$app_user" 2>&1); then
  case "$out" in
    *"already"*) ;;  # attached on an earlier start
    *) echo "minio-init: could not give the app its policy: $out" >&2; exit 1 ;;
  esac
fi
echo "minio-init: bucket tipline is private; the app's account is limited to it"
