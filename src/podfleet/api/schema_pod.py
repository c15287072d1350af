"""Field schemas of ObjectMeta, PodSpec, PodStatus and the pieces they are built from (core/v1).

Written the way kubectl users write pods; every field Kubernetes knows is listed, so a typo is an
unknown field and a wrong JSON type is a decoding error. Every list says how it merges, as the
upstream markers and patch tags of k8s.io/api say (see `schema_dsl`).
"""

from __future__ import annotations

from podfleet.api.schema_dsl import (
    BOOL,
    INT32,
    INT64,
    INTSTR,
    QUANTITY,
    RAW,
    RESOURCE_LIST,
    STR,
    STRINGS,
    STRMAP,
    TIME,
    ListOf,
    MapOf,
    atomic,
    atomic_struct,
    map_list,
    merge_list,
    set_of,
    struct,
)

OWNER_REFERENCE = atomic_struct("v1.OwnerReference", apiVersion=STR, kind=STR, name=STR, uid=STR, controller=BOOL,
                         blockOwnerDeletion=BOOL)
MANAGED_FIELDS_ENTRY = struct("v1.ManagedFieldsEntry", manager=STR, operation=STR, apiVersion=STR, time=TIME,
                              fieldsType=STR, fieldsV1=RAW, subresource=STR)
OBJECT_META = struct(
    "v1.ObjectMeta", name=STR, generateName=STR, namespace=STR, selfLink=STR, uid=STR, resourceVersion=STR,
    generation=INT64, creationTimestamp=TIME, deletionTimestamp=TIME, deletionGracePeriodSeconds=INT64,
    labels=STRMAP, annotations=STRMAP, ownerReferences=merge_list(OWNER_REFERENCE, "uid"),
    finalizers=set_of(STR, patch_strategy="merge"), managedFields=atomic(MANAGED_FIELDS_ENTRY),
)
LABEL_SELECTOR_REQUIREMENT = struct("v1.LabelSelectorRequirement", key=STR, operator=STR, values=STRINGS)
LABEL_SELECTOR = atomic_struct("v1.LabelSelector", matchLabels=STRMAP,
                               matchExpressions=atomic(LABEL_SELECTOR_REQUIREMENT))
OBJECT_REFERENCE = atomic_struct("v1.ObjectReference", kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR,
                          resourceVersion=STR, fieldPath=STR)
LOCAL_OBJECT_REFERENCE = atomic_struct("v1.LocalObjectReference", name=STR)

# ---------------------------------------------------------------------------- containers
OBJECT_FIELD_SELECTOR = atomic_struct("v1.ObjectFieldSelector", apiVersion=STR, fieldPath=STR)
RESOURCE_FIELD_SELECTOR = atomic_struct("v1.ResourceFieldSelector", containerName=STR, resource=STR, divisor=QUANTITY)
ENV_VAR_SOURCE = struct(
    "v1.EnvVarSource", fieldRef=OBJECT_FIELD_SELECTOR, resourceFieldRef=RESOURCE_FIELD_SELECTOR,
    configMapKeyRef=atomic_struct("v1.ConfigMapKeySelector", name=STR, key=STR, optional=BOOL),
    secretKeyRef=atomic_struct("v1.SecretKeySelector", name=STR, key=STR, optional=BOOL),
    fileKeyRef=atomic_struct("v1.FileKeySelector", volumeName=STR, path=STR, key=STR, optional=BOOL),
)
ENV_VAR = struct("v1.EnvVar", name=STR, value=STR, valueFrom=ENV_VAR_SOURCE)
ENV_FROM_SOURCE = struct(
    "v1.EnvFromSource", prefix=STR, configMapRef=struct("v1.ConfigMapEnvSource", name=STR, optional=BOOL),
    secretRef=struct("v1.SecretEnvSource", name=STR, optional=BOOL),
)
CONTAINER_PORT = struct("v1.ContainerPort", name=STR, hostPort=INT32, containerPort=INT32, protocol=STR,
                        hostIP=STR)
RESOURCE_REQUIREMENTS = struct(
    "v1.ResourceRequirements", limits=RESOURCE_LIST, requests=RESOURCE_LIST,
    claims=map_list(struct("v1.ResourceClaim", name=STR, request=STR), "name"),
)
VOLUME_MOUNT = struct("v1.VolumeMount", name=STR, readOnly=BOOL, recursiveReadOnly=STR, mountPath=STR, subPath=STR,
                      mountPropagation=STR, subPathExpr=STR)
EXEC_ACTION = struct("v1.ExecAction", command=STRINGS)
HTTP_GET_ACTION = struct("v1.HTTPGetAction", path=STR, port=INTSTR, host=STR, scheme=STR,
                         httpHeaders=atomic(struct("v1.HTTPHeader", name=STR, value=STR)))
TCP_SOCKET_ACTION = struct("v1.TCPSocketAction", port=INTSTR, host=STR)
PROBE = struct(
    "v1.Probe", exec=EXEC_ACTION, httpGet=HTTP_GET_ACTION, tcpSocket=TCP_SOCKET_ACTION,
    grpc=struct("v1.GRPCAction", port=INT32, service=STR), initialDelaySeconds=INT32, timeoutSeconds=INT32,
    periodSeconds=INT32, successThreshold=INT32, failureThreshold=INT32, terminationGracePeriodSeconds=INT64,
)
LIFECYCLE_HANDLER = struct("v1.LifecycleHandler", exec=EXEC_ACTION, httpGet=HTTP_GET_ACTION,
                           tcpSocket=TCP_SOCKET_ACTION, sleep=struct("v1.SleepAction", seconds=INT64))
LIFECYCLE = struct("v1.Lifecycle", postStart=LIFECYCLE_HANDLER, preStop=LIFECYCLE_HANDLER, stopSignal=STR)
SE_LINUX_OPTIONS = struct("v1.SELinuxOptions", user=STR, role=STR, type=STR, level=STR)
WINDOWS_OPTIONS = struct("v1.WindowsSecurityContextOptions", gmsaCredentialSpecName=STR, gmsaCredentialSpec=STR,
                         runAsUserName=STR, hostProcess=BOOL)
SECCOMP_PROFILE = struct("v1.SeccompProfile", type=STR, localhostProfile=STR)
APPARMOR_PROFILE = struct("v1.AppArmorProfile", type=STR, localhostProfile=STR)
SECURITY_CONTEXT = struct(
    "v1.SecurityContext", capabilities=struct("v1.Capabilities", add=STRINGS, drop=STRINGS), privileged=BOOL,
    seLinuxOptions=SE_LINUX_OPTIONS, windowsOptions=WINDOWS_OPTIONS, runAsUser=INT64, runAsGroup=INT64,
    runAsNonRoot=BOOL, readOnlyRootFilesystem=BOOL, allowPrivilegeEscalation=BOOL, procMount=STR,
    seccompProfile=SECCOMP_PROFILE, appArmorProfile=APPARMOR_PROFILE,
)
CONTAINER = struct(
    "v1.Container", name=STR, image=STR, command=STRINGS, args=STRINGS, workingDir=STR,
    ports=merge_list(CONTAINER_PORT, "containerPort", "protocol"), envFrom=atomic(ENV_FROM_SOURCE),
    env=merge_list(ENV_VAR, "name"), resources=RESOURCE_REQUIREMENTS,
    resizePolicy=atomic(struct("v1.ContainerResizePolicy", resourceName=STR, restartPolicy=STR)),
    restartPolicy=STR, restartPolicyRules=atomic(RAW), volumeMounts=merge_list(VOLUME_MOUNT, "mountPath"),
    volumeDevices=merge_list(struct("v1.VolumeDevice", name=STR, devicePath=STR), "devicePath"),
    livenessProbe=PROBE, readinessProbe=PROBE, startupProbe=PROBE, lifecycle=LIFECYCLE,
    terminationMessagePath=STR, terminationMessagePolicy=STR, imagePullPolicy=STR,
    securityContext=SECURITY_CONTEXT, stdin=BOOL, stdinOnce=BOOL, tty=BOOL,
)
EPHEMERAL_CONTAINER = CONTAINER.extend("v1.EphemeralContainer", targetContainerName=STR)

# ---------------------------------------------------------------------------- volumes
KEY_TO_PATH = atomic(struct("v1.KeyToPath", key=STR, path=STR, mode=INT32))
DOWNWARD_API_FILES = atomic(struct("v1.DownwardAPIVolumeFile", path=STR, fieldRef=OBJECT_FIELD_SELECTOR,
                                   resourceFieldRef=RESOURCE_FIELD_SELECTOR, mode=INT32))
VOLUME_PROJECTION = struct(
    "v1.VolumeProjection",
    secret=struct("v1.SecretProjection", name=STR, items=KEY_TO_PATH, optional=BOOL),
    downwardAPI=struct("v1.DownwardAPIProjection", items=DOWNWARD_API_FILES),
    configMap=struct("v1.ConfigMapProjection", name=STR, items=KEY_TO_PATH, optional=BOOL),
    serviceAccountToken=struct("v1.ServiceAccountTokenProjection", audience=STR, expirationSeconds=INT64, path=STR),
    clusterTrustBundle=RAW, podCertificate=RAW,
)
# Volume types podfleet does not run but Kubernetes knows: accepted as opaque so they are not "unknown".
_LEGACY_VOLUME_TYPES = ("gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "iscsi", "glusterfs", "rbd",
                        "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "azureDisk",
                        "vsphereVolume", "quobyte", "photonPersistentDisk", "portworxVolume", "scaleIO",
                        "storageos", "csi", "ephemeral")
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "secret", "nfs", "persistentVolumeClaim", "downwardAPI", "configMap", "projected",
    "image", *_LEGACY_VOLUME_TYPES,
)
VOLUME = struct(
    "v1.Volume", name=STR,
    hostPath=struct("v1.HostPathVolumeSource", path=STR, type=STR),
    emptyDir=struct("v1.EmptyDirVolumeSource", medium=STR, sizeLimit=QUANTITY),
    secret=struct("v1.SecretVolumeSource", secretName=STR, items=KEY_TO_PATH, defaultMode=INT32, optional=BOOL),
    nfs=struct("v1.NFSVolumeSource", server=STR, path=STR, readOnly=BOOL),
    persistentVolumeClaim=struct("v1.PersistentVolumeClaimVolumeSource", claimName=STR, readOnly=BOOL),
    downwardAPI=struct("v1.DownwardAPIVolumeSource", items=DOWNWARD_API_FILES, defaultMode=INT32),
    configMap=struct("v1.ConfigMapVolumeSource", name=STR, items=KEY_TO_PATH, defaultMode=INT32, optional=BOOL),
    projected=struct("v1.ProjectedVolumeSource", sources=atomic(VOLUME_PROJECTION), defaultMode=INT32),
    image=struct("v1.ImageVolumeSource", reference=STR, pullPolicy=STR),
    **dict.fromkeys(_LEGACY_VOLUME_TYPES, RAW),
)

# ---------------------------------------------------------------------------- scheduling
NODE_SELECTOR_REQUIREMENT = struct("v1.NodeSelectorRequirement", key=STR, operator=STR, values=STRINGS)
NODE_SELECTOR_TERM = atomic_struct("v1.NodeSelectorTerm", matchExpressions=atomic(NODE_SELECTOR_REQUIREMENT),
                                   matchFields=atomic(NODE_SELECTOR_REQUIREMENT))
POD_AFFINITY_TERM = struct("v1.PodAffinityTerm", labelSelector=LABEL_SELECTOR, namespaces=STRINGS, topologyKey=STR,
                           namespaceSelector=LABEL_SELECTOR, matchLabelKeys=STRINGS, mismatchLabelKeys=STRINGS)
_WEIGHTED_POD_AFFINITY = atomic(struct("v1.WeightedPodAffinityTerm", weight=INT32,
                                       podAffinityTerm=POD_AFFINITY_TERM))
AFFINITY = struct(
    "v1.Affinity",
    nodeAffinity=struct(
        "v1.NodeAffinity",
        requiredDuringSchedulingIgnoredDuringExecution=atomic_struct("v1.NodeSelector",
                                                                     nodeSelectorTerms=atomic(NODE_SELECTOR_TERM)),
        preferredDuringSchedulingIgnoredDuringExecution=atomic(struct("v1.PreferredSchedulingTerm", weight=INT32,
                                                                      preference=NODE_SELECTOR_TERM)),
    ),
    podAffinity=struct("v1.PodAffinity", requiredDuringSchedulingIgnoredDuringExecution=atomic(POD_AFFINITY_TERM),
                       preferredDuringSchedulingIgnoredDuringExecution=_WEIGHTED_POD_AFFINITY),
    podAntiAffinity=struct("v1.PodAntiAffinity",
                           requiredDuringSchedulingIgnoredDuringExecution=atomic(POD_AFFINITY_TERM),
                           preferredDuringSchedulingIgnoredDuringExecution=_WEIGHTED_POD_AFFINITY),
)
TOLERATION = struct("v1.Toleration", key=STR, operator=STR, value=STR, effect=STR, tolerationSeconds=INT64)
TOPOLOGY_SPREAD_CONSTRAINT = struct(
    "v1.TopologySpreadConstraint", maxSkew=INT32, topologyKey=STR, whenUnsatisfiable=STR,
    labelSelector=LABEL_SELECTOR, minDomains=INT32, nodeAffinityPolicy=STR, nodeTaintsPolicy=STR,
    matchLabelKeys=STRINGS,
)
POD_SECURITY_CONTEXT = struct(
    "v1.PodSecurityContext", seLinuxOptions=SE_LINUX_OPTIONS, windowsOptions=WINDOWS_OPTIONS, runAsUser=INT64,
    runAsGroup=INT64, runAsNonRoot=BOOL, supplementalGroups=atomic(INT64), supplementalGroupsPolicy=STR,
    fsGroup=INT64, sysctls=atomic(struct("v1.Sysctl", name=STR, value=STR)), fsGroupChangePolicy=STR,
    seccompProfile=SECCOMP_PROFILE, appArmorProfile=APPARMOR_PROFILE, seLinuxChangePolicy=STR,
)

POD_SPEC = struct(
    "v1.PodSpec", volumes=merge_list(VOLUME, "name", patch_strategy="merge,retainKeys"),
    initContainers=merge_list(CONTAINER, "name"), containers=merge_list(CONTAINER, "name"),
    ephemeralContainers=merge_list(EPHEMERAL_CONTAINER, "name"), restartPolicy=STR,
    terminationGracePeriodSeconds=INT64, activeDeadlineSeconds=INT64, dnsPolicy=STR,
    nodeSelector=MapOf(STR, map_type="atomic"), serviceAccountName=STR, serviceAccount=STR,
    automountServiceAccountToken=BOOL, nodeName=STR, hostNetwork=BOOL, hostPID=BOOL, hostIPC=BOOL,
    shareProcessNamespace=BOOL, securityContext=POD_SECURITY_CONTEXT,
    imagePullSecrets=merge_list(LOCAL_OBJECT_REFERENCE, "name"), hostname=STR, subdomain=STR, affinity=AFFINITY,
    schedulerName=STR, tolerations=atomic(TOLERATION),
    hostAliases=merge_list(struct("v1.HostAlias", ip=STR, hostnames=STRINGS), "ip"), priorityClassName=STR,
    priority=INT32,
    dnsConfig=struct("v1.PodDNSConfig", nameservers=STRINGS, searches=STRINGS,
                     options=atomic(struct("v1.PodDNSConfigOption", name=STR, value=STR))),
    readinessGates=atomic(struct("v1.PodReadinessGate", conditionType=STR)), runtimeClassName=STR,
    enableServiceLinks=BOOL, preemptionPolicy=STR, overhead=RESOURCE_LIST,
    topologySpreadConstraints=merge_list(TOPOLOGY_SPREAD_CONSTRAINT, "topologyKey", "whenUnsatisfiable"),
    setHostnameAsFQDN=BOOL, os=struct("v1.PodOS", name=STR), hostUsers=BOOL,
    schedulingGates=merge_list(struct("v1.PodSchedulingGate", name=STR), "name"),
    resourceClaims=merge_list(struct("v1.PodResourceClaim", name=STR, resourceClaimName=STR,
                                     resourceClaimTemplateName=STR), "name", patch_strategy="merge,retainKeys"),
    resources=RESOURCE_REQUIREMENTS, hostnameOverride=STR,
)
POD_TEMPLATE_SPEC = struct("v1.PodTemplateSpec", metadata=OBJECT_META, spec=POD_SPEC)

# ---------------------------------------------------------------------------- status
CONTAINER_STATE = struct(
    "v1.ContainerState",
    waiting=struct("v1.ContainerStateWaiting", reason=STR, message=STR),
    running=struct("v1.ContainerStateRunning", startedAt=TIME),
    terminated=struct("v1.ContainerStateTerminated", exitCode=INT32, signal=INT32, reason=STR, message=STR,
                      startedAt=TIME, finishedAt=TIME, containerID=STR),
)
CONTAINER_STATUS = struct(
    "v1.ContainerStatus", name=STR, state=CONTAINER_STATE, lastState=CONTAINER_STATE, ready=BOOL,
    restartCount=INT32, image=STR, imageID=STR, containerID=STR, started=BOOL, allocatedResources=RESOURCE_LIST,
    resources=RESOURCE_REQUIREMENTS,
    volumeMounts=merge_list(struct("v1.VolumeMountStatus", name=STR, mountPath=STR, readOnly=BOOL,
                                   recursiveReadOnly=STR), "mountPath"),
    user=RAW, allocatedResourcesStatus=merge_list(RAW, "name"), stopSignal=STR,
)
POD_CONDITION = struct("v1.PodCondition", type=STR, observedGeneration=INT64, status=STR, lastProbeTime=TIME,
                       lastTransitionTime=TIME, reason=STR, message=STR)
POD_STATUS = struct(
    "v1.PodStatus", observedGeneration=INT64, phase=STR, conditions=merge_list(POD_CONDITION, "type"), message=STR,
    reason=STR, nominatedNodeName=STR, hostIP=STR,
    # Upstream's odd one: atomic for apply, yet strategic merge merges it by ip.
    hostIPs=ListOf(struct("v1.HostIP", ip=STR), "atomic", merge_key="ip", patch_strategy="merge"), podIP=STR,
    podIPs=merge_list(struct("v1.PodIP", ip=STR), "ip"), startTime=TIME,
    initContainerStatuses=atomic(CONTAINER_STATUS), containerStatuses=atomic(CONTAINER_STATUS), qosClass=STR,
    ephemeralContainerStatuses=atomic(CONTAINER_STATUS), resize=STR,
    resourceClaimStatuses=merge_list(RAW, "name", patch_strategy="merge,retainKeys"), extendedResourceClaimStatus=RAW,
)
