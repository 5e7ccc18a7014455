{{/* Labels on every object; the same as config/ so both install paths produce identical objects. */}}
{{- define "kuberay-py.labels" -}}
app.kubernetes.io/name: kuberay-py
{{- end }}

{{- define "kuberay-py.selectorLabels" -}}
app.kubernetes.io/name: kuberay-py
app.kubernetes.io/component: operator
{{- end }}

{{/*
The operator's rules, as a ClusterRole (all namespaces) or a Role (watchNamespace): the same rules as
config/rbac/role.yaml, which names the code needing each one.
*/}}
{{- define "kuberay-py.operatorRules" -}}
# controllers/raycluster/setup.py add_raycluster_controller: the RayCluster informer (.for_(RAYCLUSTERS),
# and .owns(RAYCLUSTERS) in controllers/rayjob/setup.py); operator.py preflight lists them before starting.
- apiGroups: ["ray.io"]
  resources: ["rayclusters"]
  verbs: ["list", "watch"]
# patch: controllers/raycluster/redis_cleanup.py adds and removes the GCS fault tolerance finalizer, and
# controllers/rayjob/reconciler.py _suspend_workers suspends a job's worker groups (the DeleteWorkers policy).
# get is not called by the operator: held so it may create the autoscaler's Role (builders/rbac.py
# AUTOSCALER_RULES, created by controllers/raycluster/reconciler.py _ensure_autoscaler_rbac) without the
# escalate verb.
- apiGroups: ["ray.io"]
  resources: ["rayclusters"]
  verbs: ["get", "patch"]
# controllers/rayjob/reconciler.py _cluster creates the RayCluster a RayJob runs on, from its rayClusterSpec;
# _delete_cluster deletes it once the job is done with it (shutdownAfterJobFinishes, a deletion policy,
# suspend, a retry). A cluster named by clusterSelector is never deleted.
- apiGroups: ["ray.io"]
  resources: ["rayclusters"]
  verbs: ["create", "delete"]
# controllers/raycluster/reconciler.py _patch_status: status goes through the status subresource.
- apiGroups: ["ray.io"]
  resources: ["rayclusters/status"]
  verbs: ["patch"]
# builders/ownership.py owner_references sets blockOwnerDeletion on every owned object; API servers with the
# OwnerReferencesPermissionEnforcement admission plugin require this to create such objects.
- apiGroups: ["ray.io"]
  resources: ["rayclusters/finalizers"]
  verbs: ["update"]
# controllers/rayjob/setup.py add_rayjob_controller: the RayJob informer (.for_(RAYJOBS)); operator.py
# rayjobs_served lists them to learn whether the RayJob CRD is installed.
- apiGroups: ["ray.io"]
  resources: ["rayjobs"]
  verbs: ["list", "watch"]
# controllers/rayjob/reconciler.py: patch, _patch_job adds and removes the stop-job finalizer; delete, _execute
# carries out the DeleteSelf deletion policy.
- apiGroups: ["ray.io"]
  resources: ["rayjobs"]
  verbs: ["patch", "delete"]
# controllers/rayjob/reconciler.py _write_status: status goes through the status subresource.
- apiGroups: ["ray.io"]
  resources: ["rayjobs/status"]
  verbs: ["patch"]
# builders/rayjob.py job_owner_reference sets blockOwnerDeletion on the RayCluster and the submitter Job a
# RayJob owns; as for rayclusters/finalizers, OwnerReferencesPermissionEnforcement checks it against this.
- apiGroups: ["ray.io"]
  resources: ["rayjobs/finalizers"]
  verbs: ["update"]
# controllers/raycluster/setup.py: the pod informer (.owns(PODS), label-filtered by cache_selectors).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# controllers/raycluster/reconciler.py _create_pods and _delete_pods.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["create", "delete"]
# Not called by the operator: held so it may create the autoscaler's Role (builders/rbac.py AUTOSCALER_RULES).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "patch"]
# Not called by the operator: held for the autoscaler's Role (builders/rbac.py AUTOSCALER_RULES, for
# in-place pod resizing).
- apiGroups: [""]
  resources: ["pods/resize"]
  verbs: ["patch"]
# controllers/raycluster/setup.py: informers (.owns); controllers/raycluster/reconciler.py _create_if_missing:
# create the head Service (_ensure_head_service) and the autoscaler's ServiceAccount, Role and RoleBinding
# (_ensure_autoscaler_rbac), and get one that already exists but is not cached yet.
- apiGroups: [""]
  resources: ["services", "serviceaccounts"]
  verbs: ["create", "get", "list", "watch"]
# controllers/raycluster/reconciler.py _label_for_cache: gives a Service the cluster owns but KubeRay made (the
# headless worker Service) the ray.io/cluster label the Service informer selects by.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["patch"]
# controllers/raycluster/setup.py informers (.owns) and controllers/raycluster/reconciler.py
# _ensure_autoscaler_rbac: the autoscaler's Role and RoleBinding, as for its ServiceAccount above.
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "get", "list", "watch"]
# controllers/raycluster/setup.py: the informer of this operator's Jobs (.owns(JOBS), label-filtered by
# cache_selectors; controllers/rayjob/setup.py owns them too); controllers/raycluster/redis_cleanup.py creates
# one when a fault-tolerant cluster is deleted, controllers/rayjob/reconciler.py _ensure_submitter the
# submitter Job of a RayJob in K8sJobMode.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "list", "watch"]
# controllers/rayjob/reconciler.py _delete_submitter: the submitter Job goes on suspend and before a retry.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["delete"]
# controllers/raycluster/reconciler.py _ensure_auth_secret: the token Secret of a cluster with token auth.
# Create only: the operator never reads a Secret, so it cannot leak one.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
# runtime/events.py EventRecorder._write: creates an Event, then patches its series count on repeats.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
