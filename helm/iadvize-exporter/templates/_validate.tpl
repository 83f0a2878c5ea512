{{/*
Values that would install but not run, refused at render time: a pod that crash-loops or
silently loses counts is found much later than a failed `helm install`. Included by
deployment.yaml, which every render has.
*/}}
{{- define "iadvize-exporter.validate" -}}
{{- $v := .Values -}}
{{- $login := or $v.iadvize.username $v.iadvize.password $v.iadvize.existingSecret -}}
{{- if not $v.demo -}}
{{- if and $v.iadvize.tokenSecret $login -}}
{{- fail "iadvize-exporter: iadvize.tokenSecret and a login (iadvize.username, iadvize.password or iadvize.existingSecret) are both set, and the exporter refuses a token file together with a login: keep iadvize.tokenSecret alone, or unset it to log in with a username and password." -}}
{{- end -}}
{{- if not $v.iadvize.tokenSecret -}}
{{- if not $login -}}
{{- fail (printf "iadvize-exporter: no iAdvize credentials, the exporter would crash-loop. Set iadvize.username=<login e-mail> and its password: iadvize.existingSecret=<a Secret holding it under the key %q> (or iadvize.password, stored in a Secret the chart creates). Or set iadvize.tokenSecret=<a Secret holding a ready access token under the key %q>. Or set demo=true to try the chart without an account." $v.iadvize.existingSecretKey $v.iadvize.tokenSecretKey) -}}
{{- end -}}
{{- if not $v.iadvize.username -}}
{{- fail "iadvize-exporter: a password is given (iadvize.password or iadvize.existingSecret) but iadvize.username is empty: set iadvize.username=<login e-mail>." -}}
{{- end -}}
{{- if not (or $v.iadvize.password $v.iadvize.existingSecret) -}}
{{- fail (printf "iadvize-exporter: iadvize.username is set but no password: set iadvize.existingSecret=<a Secret holding it under the key %q> (kubectl create secret generic iadvize-credentials --from-file=%s=./password), or iadvize.password." $v.iadvize.existingSecretKey $v.iadvize.existingSecretKey) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.persistence.enabled (gt (int $v.replicaCount) 1) -}}
{{- fail (printf "iadvize-exporter: persistence.enabled with replicaCount=%d: the replicas would share one state file (state.bin) and each overwrites it with its own counts and de-duplication after its polls: the last writer wins, and a restart loads whichever replica saved last (and a ReadWriteOnce volume cannot be mounted on two nodes anyway). Use replicaCount=1 with persistence, or persistence.enabled=false for several replicas." (int $v.replicaCount)) -}}
{{- end -}}
{{- if $v.backfill.enabled -}}
{{- if not $v.persistence.enabled -}}
{{- fail "iadvize-exporter: backfill.enabled needs persistence.enabled=true: the backfill Job writes history.om and the state file the exporter goes on from on the state volume." -}}
{{- end -}}
{{- if gt (int $v.replicaCount) 0 -}}
{{- fail (printf "iadvize-exporter: backfill.enabled with replicaCount=%d: the exporter would start counting, and lock and write state.bin, before the backfill Job has written it. Install with replicaCount=0 and backfill.enabled=true, wait for the Job, then upgrade with replicaCount=1 and backfill.enabled=false (README, Starting with history)." (int $v.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- end }}
