"""Decoding the Kubernetes protobuf request encoding (`application/vnd.kubernetes.protobuf`).

kubectl's typed clients (`kubectl create namespace|configmap|secret|serviceaccount|deployment`, drain's
evictions) send protobuf bodies and do not fall back to JSON. podfleet stores and answers JSON, so such
a body is turned into the JSON object the same client would have sent.

Protobuf bytes are not self-describing: a length-delimited field may be a string, bytes, a nested
message or a packed list, and a 3-byte string can look like a nested message. So decoding is driven
only by each field's declared type, from `_SCHEMA` below: the upstream `generated.proto` messages
reachable from every kind podfleet serves, with field numbers, JSON names and Go pointer-ness as in
the k8s.io/api and apimachinery `types.go` tags. Nothing is guessed from the bytes.

Go's marshallers emit every non-pointer field, even when empty, and pointer fields only when set,
while Go's JSON encoder leaves out empty `omitempty` fields. The decoder mirrors that: a zero
non-pointer scalar is left out (JSON would omit it or send a value meaning the same), a present pointer
scalar is kept whatever its value, and a present nested message is an object even when empty (as
Go's JSON encoder writes every struct).

Errors: malformed bytes (truncated varint/fixed/length, a wire type the declared type cannot have,
invalid UTF-8, a bad envelope) are 400 `BadRequest`; a kind, or a field carrying data, that podfleet
does not know is 415 `UnsupportedMediaType` naming it, so the client can send JSON instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from podfleet.api.errors import BadRequest, UnsupportedMediaType
from podfleet.api.jsoncopy import MAX_DEPTH, depth, too_deep_message
from podfleet.apiserver.decoding import load_json

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# One message per entry: `Name: <number> <json name> <label><type>, ...`. Labels: none (a Go
# non-pointer field), `*` (a Go pointer: kept even when zero), `[]` (repeated), `{}` (map with string
# keys), `^` (an embedded struct whose fields JSON inlines into the parent; its name is `-`). Types: a
# message of this table (`meta.`/`apps.`/... prefix for other packages than core/v1), a scalar
# (string, bytes, bool, int32, int64) or an apimachinery type with its own JSON form (time, microtime,
# quantity, intstr, raw, fieldsv1). Taken from k8s.io/api and apimachinery as of mid-2026 (newer than
# v0.36.3, so it covers kubectl 1.37's fields); tests/unit/apiserver/test_protobuf.py checks every row
# against the upstream .proto messages.
_SCHEMA = """
Namespace: 1 metadata meta.ObjectMeta, 2 spec NamespaceSpec, 3 status NamespaceStatus
meta.ObjectMeta: 1 name string, 2 generateName string, 3 namespace string, 4 selfLink string, 5 uid string,
    6 resourceVersion string, 7 generation int64, 8 creationTimestamp time, 9 deletionTimestamp *time,
    10 deletionGracePeriodSeconds *int64, 11 labels {}string, 12 annotations {}string,
    13 ownerReferences []meta.OwnerReference, 14 finalizers []string,
    17 managedFields []meta.ManagedFieldsEntry
meta.OwnerReference: 1 kind string, 3 name string, 4 uid string, 5 apiVersion string, 6 controller *bool,
    7 blockOwnerDeletion *bool
meta.ManagedFieldsEntry: 1 manager string, 2 operation string, 3 apiVersion string, 4 time *time,
    6 fieldsType string, 7 fieldsV1 *fieldsv1, 8 subresource string
NamespaceSpec: 1 finalizers []string
NamespaceStatus: 1 phase string, 2 conditions []NamespaceCondition
NamespaceCondition: 1 type string, 2 status string, 4 lastTransitionTime time, 5 reason string,
    6 message string
Pod: 1 metadata meta.ObjectMeta, 2 spec PodSpec, 3 status PodStatus
PodSpec: 1 volumes []Volume, 2 containers []Container, 3 restartPolicy string,
    4 terminationGracePeriodSeconds *int64, 5 activeDeadlineSeconds *int64, 6 dnsPolicy string,
    7 nodeSelector {}string, 8 serviceAccountName string, 9 serviceAccount string, 10 nodeName string,
    11 hostNetwork bool, 12 hostPID bool, 13 hostIPC bool, 14 securityContext *PodSecurityContext,
    15 imagePullSecrets []LocalObjectReference, 16 hostname string, 17 subdomain string,
    18 affinity *Affinity, 19 schedulerName string, 20 initContainers []Container,
    21 automountServiceAccountToken *bool, 22 tolerations []Toleration, 23 hostAliases []HostAlias,
    24 priorityClassName string, 25 priority *int32, 26 dnsConfig *PodDNSConfig,
    27 shareProcessNamespace *bool, 28 readinessGates []PodReadinessGate, 29 runtimeClassName *string,
    30 enableServiceLinks *bool, 31 preemptionPolicy *string, 32 overhead {}quantity,
    33 topologySpreadConstraints []TopologySpreadConstraint, 34 ephemeralContainers []EphemeralContainer,
    35 setHostnameAsFQDN *bool, 36 os *PodOS, 37 hostUsers *bool, 38 schedulingGates []PodSchedulingGate,
    39 resourceClaims []PodResourceClaim, 40 resources *ResourceRequirements, 41 hostnameOverride *string,
    43 schedulingGroup *PodSchedulingGroup, 44 evictionResponders []EvictionResponder
Volume: 1 name string, 2 - ^VolumeSource
VolumeSource: 1 hostPath *HostPathVolumeSource, 2 emptyDir *EmptyDirVolumeSource,
    3 gcePersistentDisk *GCEPersistentDiskVolumeSource,
    4 awsElasticBlockStore *AWSElasticBlockStoreVolumeSource, 5 gitRepo *GitRepoVolumeSource,
    6 secret *SecretVolumeSource, 7 nfs *NFSVolumeSource, 8 iscsi *ISCSIVolumeSource,
    9 glusterfs *GlusterfsVolumeSource, 10 persistentVolumeClaim *PersistentVolumeClaimVolumeSource,
    11 rbd *RBDVolumeSource, 12 flexVolume *FlexVolumeSource, 13 cinder *CinderVolumeSource,
    14 cephfs *CephFSVolumeSource, 15 flocker *FlockerVolumeSource, 16 downwardAPI *DownwardAPIVolumeSource,
    17 fc *FCVolumeSource, 18 azureFile *AzureFileVolumeSource, 19 configMap *ConfigMapVolumeSource,
    20 vsphereVolume *VsphereVirtualDiskVolumeSource, 21 quobyte *QuobyteVolumeSource,
    22 azureDisk *AzureDiskVolumeSource, 23 photonPersistentDisk *PhotonPersistentDiskVolumeSource,
    24 portworxVolume *PortworxVolumeSource, 25 scaleIO *ScaleIOVolumeSource,
    26 projected *ProjectedVolumeSource, 27 storageos *StorageOSVolumeSource, 28 csi *CSIVolumeSource,
    29 ephemeral *EphemeralVolumeSource, 30 image *ImageVolumeSource
HostPathVolumeSource: 1 path string, 2 type *string
EmptyDirVolumeSource: 1 medium string, 2 sizeLimit *quantity, 3 mode *int32
GCEPersistentDiskVolumeSource: 1 pdName string, 2 fsType string, 3 partition int32, 4 readOnly bool
AWSElasticBlockStoreVolumeSource: 1 volumeID string, 2 fsType string, 3 partition int32, 4 readOnly bool
GitRepoVolumeSource: 1 repository string, 2 revision string, 3 directory string
SecretVolumeSource: 1 secretName string, 2 items []KeyToPath, 3 defaultMode *int32, 4 optional *bool,
    5 defaultUser *int64
KeyToPath: 1 key string, 2 path string, 3 mode *int32, 4 user *int64
NFSVolumeSource: 1 server string, 2 path string, 3 readOnly bool
ISCSIVolumeSource: 1 targetPortal string, 2 iqn string, 3 lun int32, 4 iscsiInterface string, 5 fsType string,
    6 readOnly bool, 7 portals []string, 8 chapAuthDiscovery bool, 10 secretRef *LocalObjectReference,
    11 chapAuthSession bool, 12 initiatorName *string
LocalObjectReference: 1 name string
GlusterfsVolumeSource: 1 endpoints string, 2 path string, 3 readOnly bool
PersistentVolumeClaimVolumeSource: 1 claimName string, 2 readOnly bool
RBDVolumeSource: 1 monitors []string, 2 image string, 3 fsType string, 4 pool string, 5 user string,
    6 keyring string, 7 secretRef *LocalObjectReference, 8 readOnly bool
FlexVolumeSource: 1 driver string, 2 fsType string, 3 secretRef *LocalObjectReference, 4 readOnly bool,
    5 options {}string
CinderVolumeSource: 1 volumeID string, 2 fsType string, 3 readOnly bool, 4 secretRef *LocalObjectReference
CephFSVolumeSource: 1 monitors []string, 2 path string, 3 user string, 4 secretFile string,
    5 secretRef *LocalObjectReference, 6 readOnly bool
FlockerVolumeSource: 1 datasetName string, 2 datasetUUID string
DownwardAPIVolumeSource: 1 items []DownwardAPIVolumeFile, 2 defaultMode *int32, 3 defaultUser *int64
DownwardAPIVolumeFile: 1 path string, 2 fieldRef *ObjectFieldSelector,
    3 resourceFieldRef *ResourceFieldSelector, 4 mode *int32, 5 user *int64
ObjectFieldSelector: 1 apiVersion string, 2 fieldPath string
ResourceFieldSelector: 1 containerName string, 2 resource string, 3 divisor quantity
FCVolumeSource: 1 targetWWNs []string, 2 lun *int32, 3 fsType string, 4 readOnly bool, 5 wwids []string
AzureFileVolumeSource: 1 secretName string, 2 shareName string, 3 readOnly bool
ConfigMapVolumeSource: 1 - ^LocalObjectReference, 2 items []KeyToPath, 3 defaultMode *int32, 4 optional *bool,
    5 defaultUser *int64
VsphereVirtualDiskVolumeSource: 1 volumePath string, 2 fsType string, 3 storagePolicyName string,
    4 storagePolicyID string
QuobyteVolumeSource: 1 registry string, 2 volume string, 3 readOnly bool, 4 user string, 5 group string,
    6 tenant string
AzureDiskVolumeSource: 1 diskName string, 2 diskURI string, 3 cachingMode *string, 4 fsType *string,
    5 readOnly *bool, 6 kind *string
PhotonPersistentDiskVolumeSource: 1 pdID string, 2 fsType string
ProjectedVolumeSource: 1 sources []VolumeProjection, 2 defaultMode *int32, 3 defaultUser *int64
VolumeProjection: 1 secret *SecretProjection, 2 downwardAPI *DownwardAPIProjection,
    3 configMap *ConfigMapProjection, 4 serviceAccountToken *ServiceAccountTokenProjection,
    5 clusterTrustBundle *ClusterTrustBundleProjection, 6 podCertificate *PodCertificateProjection
SecretProjection: 1 - ^LocalObjectReference, 2 items []KeyToPath, 4 optional *bool
DownwardAPIProjection: 1 items []DownwardAPIVolumeFile
ConfigMapProjection: 1 - ^LocalObjectReference, 2 items []KeyToPath, 4 optional *bool
ServiceAccountTokenProjection: 1 audience string, 2 expirationSeconds *int64, 3 path string, 4 user *int64
ClusterTrustBundleProjection: 1 name *string, 2 signerName *string, 3 labelSelector *meta.LabelSelector,
    4 path string, 5 optional *bool, 6 user *int64
meta.LabelSelector: 1 matchLabels {}string, 2 matchExpressions []meta.LabelSelectorRequirement
meta.LabelSelectorRequirement: 1 key string, 2 operator string, 3 values []string
PodCertificateProjection: 1 signerName string, 2 keyType string, 3 maxExpirationSeconds *int32,
    4 credentialBundlePath string, 5 keyPath string, 6 certificateChainPath string,
    7 userAnnotations {}string, 8 user *int64
PortworxVolumeSource: 1 volumeID string, 2 fsType string, 3 readOnly bool
ScaleIOVolumeSource: 1 gateway string, 2 system string, 3 secretRef *LocalObjectReference, 4 sslEnabled bool,
    5 protectionDomain string, 6 storagePool string, 7 storageMode string, 8 volumeName string,
    9 fsType string, 10 readOnly bool
StorageOSVolumeSource: 1 volumeName string, 2 volumeNamespace string, 3 fsType string, 4 readOnly bool,
    5 secretRef *LocalObjectReference
CSIVolumeSource: 1 driver string, 2 readOnly *bool, 3 fsType *string, 4 volumeAttributes {}string,
    5 nodePublishSecretRef *LocalObjectReference
EphemeralVolumeSource: 1 volumeClaimTemplate *PersistentVolumeClaimTemplate
PersistentVolumeClaimTemplate: 1 metadata meta.ObjectMeta, 2 spec PersistentVolumeClaimSpec
PersistentVolumeClaimSpec: 1 accessModes []string, 2 resources VolumeResourceRequirements,
    3 volumeName string, 4 selector *meta.LabelSelector, 5 storageClassName *string, 6 volumeMode *string,
    7 dataSource *TypedLocalObjectReference, 8 dataSourceRef *TypedObjectReference,
    9 volumeAttributesClassName *string
VolumeResourceRequirements: 1 limits {}quantity, 2 requests {}quantity
TypedLocalObjectReference: 1 apiGroup *string, 2 kind string, 3 name string
TypedObjectReference: 1 apiGroup *string, 2 kind string, 3 name string, 4 namespace *string
ImageVolumeSource: 1 reference string, 2 pullPolicy string
Container: 1 name string, 2 image string, 3 command []string, 4 args []string, 5 workingDir string,
    6 ports []ContainerPort, 7 env []EnvVar, 8 resources ResourceRequirements, 9 volumeMounts []VolumeMount,
    10 livenessProbe *Probe, 11 readinessProbe *Probe, 12 lifecycle *Lifecycle,
    13 terminationMessagePath string, 14 imagePullPolicy string, 15 securityContext *SecurityContext,
    16 stdin bool, 17 stdinOnce bool, 18 tty bool, 19 envFrom []EnvFromSource,
    20 terminationMessagePolicy string, 21 volumeDevices []VolumeDevice, 22 startupProbe *Probe,
    23 resizePolicy []ContainerResizePolicy, 24 restartPolicy *string,
    25 restartPolicyRules []ContainerRestartRule
ContainerPort: 1 name string, 2 hostPort int32, 3 containerPort int32, 4 protocol string, 5 hostIP string
EnvFromSource: 1 prefix string, 2 configMapRef *ConfigMapEnvSource, 3 secretRef *SecretEnvSource
ConfigMapEnvSource: 1 - ^LocalObjectReference, 2 optional *bool
SecretEnvSource: 1 - ^LocalObjectReference, 2 optional *bool
EnvVar: 1 name string, 2 value string, 3 valueFrom *EnvVarSource
EnvVarSource: 1 fieldRef *ObjectFieldSelector, 2 resourceFieldRef *ResourceFieldSelector,
    3 configMapKeyRef *ConfigMapKeySelector, 4 secretKeyRef *SecretKeySelector, 5 fileKeyRef *FileKeySelector
ConfigMapKeySelector: 1 - ^LocalObjectReference, 2 key string, 3 optional *bool
SecretKeySelector: 1 - ^LocalObjectReference, 2 key string, 3 optional *bool
FileKeySelector: 1 volumeName string, 2 path string, 3 key string, 4 optional *bool
ResourceRequirements: 1 limits {}quantity, 2 requests {}quantity, 3 claims []ResourceClaim
ResourceClaim: 1 name string, 2 request string
ContainerResizePolicy: 1 resourceName string, 2 restartPolicy string
ContainerRestartRule: 1 action string, 2 exitCodes *ContainerRestartRuleOnExitCodes
ContainerRestartRuleOnExitCodes: 1 operator string, 2 values []int32
VolumeMount: 1 name string, 2 readOnly bool, 3 mountPath string, 4 subPath string, 5 mountPropagation *string,
    6 subPathExpr string, 7 recursiveReadOnly *string, 8 bindMountOptions []string
VolumeDevice: 1 name string, 2 devicePath string
Probe: 1 - ^ProbeHandler, 2 initialDelaySeconds int32, 3 timeoutSeconds int32, 4 periodSeconds int32,
    5 successThreshold int32, 6 failureThreshold int32, 7 terminationGracePeriodSeconds *int64
ProbeHandler: 1 exec *ExecAction, 2 httpGet *HTTPGetAction, 3 tcpSocket *TCPSocketAction, 4 grpc *GRPCAction
ExecAction: 1 command []string
HTTPGetAction: 1 path string, 2 port intstr, 3 host string, 4 scheme string, 5 httpHeaders []HTTPHeader,
    6 protocol *string
HTTPHeader: 1 name string, 2 value string
TCPSocketAction: 1 port intstr, 2 host string
GRPCAction: 1 port int32, 2 service *string, 3 mode *string
Lifecycle: 1 postStart *LifecycleHandler, 2 preStop *LifecycleHandler, 3 stopSignal *string
LifecycleHandler: 1 exec *ExecAction, 2 httpGet *HTTPGetAction, 3 tcpSocket *TCPSocketAction,
    4 sleep *SleepAction
SleepAction: 1 seconds int64
SecurityContext: 1 capabilities *Capabilities, 2 privileged *bool, 3 seLinuxOptions *SELinuxOptions,
    4 runAsUser *int64, 5 runAsNonRoot *bool, 6 readOnlyRootFilesystem *bool,
    7 allowPrivilegeEscalation *bool, 8 runAsGroup *int64, 9 procMount *string,
    10 windowsOptions *WindowsSecurityContextOptions, 11 seccompProfile *SeccompProfile,
    12 appArmorProfile *AppArmorProfile
Capabilities: 1 add []string, 2 drop []string
SELinuxOptions: 1 user string, 2 role string, 3 type string, 4 level string
WindowsSecurityContextOptions: 1 gmsaCredentialSpecName *string, 2 gmsaCredentialSpec *string,
    3 runAsUserName *string, 4 hostProcess *bool
SeccompProfile: 1 type string, 2 localhostProfile *string
AppArmorProfile: 1 type string, 2 localhostProfile *string
EphemeralContainer: 1 - ^EphemeralContainerCommon, 2 targetContainerName string
EphemeralContainerCommon: 1 name string, 2 image string, 3 command []string, 4 args []string,
    5 workingDir string, 6 ports []ContainerPort, 7 env []EnvVar, 8 resources ResourceRequirements,
    9 volumeMounts []VolumeMount, 10 livenessProbe *Probe, 11 readinessProbe *Probe, 12 lifecycle *Lifecycle,
    13 terminationMessagePath string, 14 imagePullPolicy string, 15 securityContext *SecurityContext,
    16 stdin bool, 17 stdinOnce bool, 18 tty bool, 19 envFrom []EnvFromSource,
    20 terminationMessagePolicy string, 21 volumeDevices []VolumeDevice, 22 startupProbe *Probe,
    23 resizePolicy []ContainerResizePolicy, 24 restartPolicy *string,
    25 restartPolicyRules []ContainerRestartRule
PodSecurityContext: 1 seLinuxOptions *SELinuxOptions, 2 runAsUser *int64, 3 runAsNonRoot *bool,
    4 supplementalGroups []int64, 5 fsGroup *int64, 6 runAsGroup *int64, 7 sysctls []Sysctl,
    8 windowsOptions *WindowsSecurityContextOptions, 9 fsGroupChangePolicy *string,
    10 seccompProfile *SeccompProfile, 11 appArmorProfile *AppArmorProfile,
    12 supplementalGroupsPolicy *string, 13 seLinuxChangePolicy *string
Sysctl: 1 name string, 2 value string
Affinity: 1 nodeAffinity *NodeAffinity, 2 podAffinity *PodAffinity, 3 podAntiAffinity *PodAntiAffinity
NodeAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution *NodeSelector,
    2 preferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm
NodeSelector: 1 nodeSelectorTerms []NodeSelectorTerm
NodeSelectorTerm: 1 matchExpressions []NodeSelectorRequirement, 2 matchFields []NodeSelectorRequirement
NodeSelectorRequirement: 1 key string, 2 operator string, 3 values []string
PreferredSchedulingTerm: 1 weight int32, 2 preference NodeSelectorTerm
PodAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm,
    2 preferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm
PodAffinityTerm: 1 labelSelector *meta.LabelSelector, 2 namespaces []string, 3 topologyKey string,
    4 namespaceSelector *meta.LabelSelector, 5 matchLabelKeys []string, 6 mismatchLabelKeys []string
WeightedPodAffinityTerm: 1 weight int32, 2 podAffinityTerm PodAffinityTerm
PodAntiAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm,
    2 preferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm
Toleration: 1 key string, 2 operator string, 3 value string, 4 effect string, 5 tolerationSeconds *int64
HostAlias: 1 ip string, 2 hostnames []string
PodDNSConfig: 1 nameservers []string, 2 searches []string, 3 options []PodDNSConfigOption
PodDNSConfigOption: 1 name string, 2 value *string
PodReadinessGate: 1 conditionType string
TopologySpreadConstraint: 1 maxSkew int32, 2 topologyKey string, 3 whenUnsatisfiable string,
    4 labelSelector *meta.LabelSelector, 5 minDomains *int32, 6 nodeAffinityPolicy *string,
    7 nodeTaintsPolicy *string, 8 matchLabelKeys []string
PodOS: 1 name string
PodSchedulingGate: 1 name string
PodResourceClaim: 1 name string, 3 resourceClaimName *string, 4 resourceClaimTemplateName *string
PodSchedulingGroup: 1 podGroupName *string
EvictionResponder: 1 name string, 2 priority *int32
PodStatus: 1 phase string, 2 conditions []PodCondition, 3 message string, 4 reason string, 5 hostIP string,
    6 podIP string, 7 startTime *time, 8 containerStatuses []ContainerStatus, 9 qosClass string,
    10 initContainerStatuses []ContainerStatus, 11 nominatedNodeName string, 12 podIPs []PodIP,
    13 ephemeralContainerStatuses []ContainerStatus, 14 resize string,
    15 resourceClaimStatuses []PodResourceClaimStatus, 16 hostIPs []HostIP, 17 observedGeneration int64,
    18 extendedResourceClaimStatus *PodExtendedResourceClaimStatus, 19 allocatedResources {}quantity,
    20 resources *ResourceRequirements,
    21 nodeAllocatableResourceClaimStatuses []NodeAllocatableResourceClaimStatus,
    22 volumeHealth []PodVolumeHealth
PodCondition: 1 type string, 2 status string, 3 lastProbeTime time, 4 lastTransitionTime time,
    5 reason string, 6 message string, 7 observedGeneration int64
HostIP: 1 ip string
PodIP: 1 ip string
ContainerStatus: 1 name string, 2 state ContainerState, 3 lastState ContainerState, 4 ready bool,
    5 restartCount int32, 6 image string, 7 imageID string, 8 containerID string, 9 started *bool,
    10 allocatedResources {}quantity, 11 resources *ResourceRequirements, 12 volumeMounts []VolumeMountStatus,
    13 user *ContainerUser, 14 allocatedResourcesStatus []ResourceStatus, 15 stopSignal *string
ContainerState: 1 waiting *ContainerStateWaiting, 2 running *ContainerStateRunning,
    3 terminated *ContainerStateTerminated
ContainerStateWaiting: 1 reason string, 2 message string
ContainerStateRunning: 1 startedAt time
ContainerStateTerminated: 1 exitCode int32, 2 signal int32, 3 reason string, 4 message string,
    5 startedAt time, 6 finishedAt time, 7 containerID string
VolumeMountStatus: 1 name string, 2 mountPath string, 3 readOnly bool, 4 recursiveReadOnly *string,
    5 volumeStatus *VolumeStatus
VolumeStatus: 1 image *ImageVolumeStatus
ImageVolumeStatus: 1 imageRef string
ContainerUser: 1 linux *LinuxContainerUser
LinuxContainerUser: 1 uid int64, 2 gid int64, 3 supplementalGroups []int64
ResourceStatus: 1 name string, 2 resources []ResourceHealth
ResourceHealth: 1 resourceID string, 2 health string, 6 message *string
PodResourceClaimStatus: 1 name string, 2 resourceClaimName *string
PodExtendedResourceClaimStatus: 1 requestMappings []ContainerExtendedResourceRequest,
    2 resourceClaimName string
ContainerExtendedResourceRequest: 1 containerName string, 2 resourceName string, 3 requestName string
NodeAllocatableResourceClaimStatus: 1 resourceClaimName string, 2 containers []string,
    4 mapping []NodeAllocatableMappedResources, 5 overhead []NodeAllocatableOverheadResources
NodeAllocatableMappedResources: 1 name string, 2 quantity *quantity
NodeAllocatableOverheadResources: 1 name string, 2 perPod *quantity, 3 perContainer *quantity
PodVolumeHealth: 1 name string, 2 healthConditions []VolumeHealthCondition, 3 lastTransitionTime time
VolumeHealthCondition: 1 status string, 2 reason string, 3 message string
Node: 1 metadata meta.ObjectMeta, 2 spec NodeSpec, 3 status NodeStatus
NodeSpec: 1 podCIDR string, 2 externalID string, 3 providerID string, 4 unschedulable bool, 5 taints []Taint,
    6 configSource *NodeConfigSource, 7 podCIDRs []string, 8 podPreemptionPolicy *NodePodPreemptionPolicy
Taint: 1 key string, 2 value string, 3 effect string, 4 timeAdded *time
NodeConfigSource: 2 configMap *ConfigMapNodeConfigSource
ConfigMapNodeConfigSource: 1 namespace string, 2 name string, 3 uid string, 4 resourceVersion string,
    5 kubeletConfigKey string
NodePodPreemptionPolicy: 1 disableResizePreemption []string
NodeStatus: 1 capacity {}quantity, 2 allocatable {}quantity, 3 phase string, 4 conditions []NodeCondition,
    5 addresses []NodeAddress, 6 daemonEndpoints NodeDaemonEndpoints, 7 nodeInfo NodeSystemInfo,
    8 images []ContainerImage, 9 volumesInUse []string, 10 volumesAttached []AttachedVolume,
    11 config *NodeConfigStatus, 12 runtimeHandlers []NodeRuntimeHandler, 13 features *NodeFeatures,
    14 declaredFeatures []string
NodeCondition: 1 type string, 2 status string, 3 lastHeartbeatTime time, 4 lastTransitionTime time,
    5 reason string, 6 message string
NodeAddress: 1 type string, 2 address string
NodeDaemonEndpoints: 1 kubeletEndpoint DaemonEndpoint
DaemonEndpoint: 1 Port int32
NodeSystemInfo: 1 machineID string, 2 systemUUID string, 3 bootID string, 4 kernelVersion string,
    5 osImage string, 6 containerRuntimeVersion string, 7 kubeletVersion string, 8 kubeProxyVersion string,
    9 operatingSystem string, 10 architecture string, 11 swap *NodeSwapStatus
NodeSwapStatus: 1 capacity *int64
ContainerImage: 1 names []string, 2 sizeBytes int64
AttachedVolume: 1 name string, 2 devicePath string
NodeConfigStatus: 1 assigned *NodeConfigSource, 2 active *NodeConfigSource, 3 lastKnownGood *NodeConfigSource,
    4 error string
NodeRuntimeHandler: 1 name string, 2 features *NodeRuntimeHandlerFeatures
NodeRuntimeHandlerFeatures: 1 recursiveReadOnlyMounts *bool, 2 userNamespaces *bool
NodeFeatures: 1 supplementalGroupsPolicy *bool
Event: 1 metadata meta.ObjectMeta, 2 involvedObject ObjectReference, 3 reason string, 4 message string,
    5 source EventSource, 6 firstTimestamp time, 7 lastTimestamp time, 8 count int32, 9 type string,
    10 eventTime microtime, 11 series *EventSeries, 12 action string, 13 related *ObjectReference,
    14 reportingComponent string, 15 reportingInstance string
ObjectReference: 1 kind string, 2 namespace string, 3 name string, 4 uid string, 5 apiVersion string,
    6 resourceVersion string, 7 fieldPath string
EventSource: 1 component string, 2 host string
EventSeries: 1 count int32, 2 lastObservedTime microtime
Secret: 1 metadata meta.ObjectMeta, 2 data {}bytes, 3 type string, 4 stringData {}string, 5 immutable *bool
ConfigMap: 1 metadata meta.ObjectMeta, 2 data {}string, 3 binaryData {}bytes, 4 immutable *bool
ServiceAccount: 1 metadata meta.ObjectMeta, 2 secrets []ObjectReference,
    3 imagePullSecrets []LocalObjectReference, 4 automountServiceAccountToken *bool
Binding: 1 metadata meta.ObjectMeta, 2 target ObjectReference
coordination.Lease: 1 metadata meta.ObjectMeta, 2 spec coordination.LeaseSpec
coordination.LeaseSpec: 1 holderIdentity *string, 2 leaseDurationSeconds *int32, 3 acquireTime *microtime,
    4 renewTime *microtime, 5 leaseTransitions *int32, 6 strategy *string, 7 preferredHolder *string
apps.ReplicaSet: 1 metadata meta.ObjectMeta, 2 spec apps.ReplicaSetSpec, 3 status apps.ReplicaSetStatus
apps.ReplicaSetSpec: 1 replicas *int32, 2 selector *meta.LabelSelector, 3 template PodTemplateSpec,
    4 minReadySeconds int32
PodTemplateSpec: 1 metadata meta.ObjectMeta, 2 spec PodSpec
apps.ReplicaSetStatus: 1 replicas int32, 2 fullyLabeledReplicas int32, 3 observedGeneration int64,
    4 readyReplicas int32, 5 availableReplicas int32, 6 conditions []apps.ReplicaSetCondition,
    7 terminatingReplicas *int32
apps.ReplicaSetCondition: 1 type string, 2 status string, 3 lastTransitionTime time, 4 reason string,
    5 message string
apps.Deployment: 1 metadata meta.ObjectMeta, 2 spec apps.DeploymentSpec, 3 status apps.DeploymentStatus
apps.DeploymentSpec: 1 replicas *int32, 2 selector *meta.LabelSelector, 3 template PodTemplateSpec,
    4 strategy apps.DeploymentStrategy, 5 minReadySeconds int32, 6 revisionHistoryLimit *int32, 7 paused bool,
    9 progressDeadlineSeconds *int32
apps.DeploymentStrategy: 1 type string, 2 rollingUpdate *apps.RollingUpdateDeployment
apps.RollingUpdateDeployment: 1 maxUnavailable *intstr, 2 maxSurge *intstr
apps.DeploymentStatus: 1 observedGeneration int64, 2 replicas int32, 3 updatedReplicas int32,
    4 availableReplicas int32, 5 unavailableReplicas int32, 6 conditions []apps.DeploymentCondition,
    7 readyReplicas int32, 8 collisionCount *int32, 9 terminatingReplicas *int32
apps.DeploymentCondition: 1 type string, 2 status string, 4 reason string, 5 message string,
    6 lastUpdateTime time, 7 lastTransitionTime time
apps.ControllerRevision: 1 metadata meta.ObjectMeta, 2 data raw, 3 revision int64
batch.Job: 1 metadata meta.ObjectMeta, 2 spec batch.JobSpec, 3 status batch.JobStatus
batch.JobSpec: 1 parallelism *int32, 2 completions *int32, 3 activeDeadlineSeconds *int64,
    11 podFailurePolicy *batch.PodFailurePolicy, 16 successPolicy *batch.SuccessPolicy, 7 backoffLimit *int32,
    12 backoffLimitPerIndex *int32, 13 maxFailedIndexes *int32, 4 selector *meta.LabelSelector,
    5 manualSelector *bool, 6 template PodTemplateSpec, 8 ttlSecondsAfterFinished *int32,
    9 completionMode *string, 10 suspend *bool, 14 podReplacementPolicy *string, 15 managedBy *string
batch.PodFailurePolicy: 1 rules []batch.PodFailurePolicyRule
batch.PodFailurePolicyRule: 1 action string, 2 onExitCodes *batch.PodFailurePolicyOnExitCodesRequirement,
    3 onPodConditions []batch.PodFailurePolicyOnPodConditionsPattern
batch.PodFailurePolicyOnExitCodesRequirement: 1 containerName *string, 2 operator string, 3 values []int32
batch.PodFailurePolicyOnPodConditionsPattern: 1 type string, 2 status string
batch.SuccessPolicy: 1 rules []batch.SuccessPolicyRule
batch.SuccessPolicyRule: 1 succeededIndexes *string, 2 succeededCount *int32
batch.JobStatus: 1 conditions []batch.JobCondition, 2 startTime *time, 3 completionTime *time, 4 active int32,
    5 succeeded int32, 6 failed int32, 11 terminating *int32, 7 completedIndexes string, 10 failedIndexes *string,
    8 uncountedTerminatedPods *batch.UncountedTerminatedPods, 9 ready *int32
batch.JobCondition: 1 type string, 2 status string, 3 lastProbeTime time, 4 lastTransitionTime time,
    5 reason string, 6 message string
batch.UncountedTerminatedPods: 1 succeeded []string, 2 failed []string
batch.CronJob: 1 metadata meta.ObjectMeta, 2 spec batch.CronJobSpec, 3 status batch.CronJobStatus
batch.CronJobSpec: 1 schedule string, 8 timeZone *string, 2 startingDeadlineSeconds *int64,
    3 concurrencyPolicy string, 4 suspend *bool, 5 jobTemplate batch.JobTemplateSpec,
    6 successfulJobsHistoryLimit *int32, 7 failedJobsHistoryLimit *int32
batch.JobTemplateSpec: 1 metadata meta.ObjectMeta, 2 spec batch.JobSpec
batch.CronJobStatus: 1 active []ObjectReference, 4 lastScheduleTime *time, 5 lastSuccessfulTime *time
apps.StatefulSet: 1 metadata meta.ObjectMeta, 2 spec apps.StatefulSetSpec, 3 status apps.StatefulSetStatus
apps.StatefulSetSpec: 1 replicas *int32, 2 selector *meta.LabelSelector, 3 template PodTemplateSpec,
    5 serviceName string, 6 podManagementPolicy string, 7 updateStrategy apps.StatefulSetUpdateStrategy,
    8 revisionHistoryLimit *int32, 9 minReadySeconds int32,
    10 persistentVolumeClaimRetentionPolicy *apps.StatefulSetPersistentVolumeClaimRetentionPolicy,
    11 ordinals *apps.StatefulSetOrdinals
apps.StatefulSetUpdateStrategy: 1 type string, 2 rollingUpdate *apps.RollingUpdateStatefulSetStrategy
apps.RollingUpdateStatefulSetStrategy: 1 partition *int32, 2 maxUnavailable *intstr
apps.StatefulSetPersistentVolumeClaimRetentionPolicy: 1 whenDeleted string, 2 whenScaled string
apps.StatefulSetOrdinals: 1 start int32
apps.StatefulSetStatus: 1 observedGeneration int64, 2 replicas int32, 3 readyReplicas int32,
    4 currentReplicas int32, 5 updatedReplicas int32, 6 currentRevision string, 7 updateRevision string,
    9 collisionCount *int32, 10 conditions []apps.StatefulSetCondition, 11 availableReplicas int32
apps.StatefulSetCondition: 1 type string, 2 status string, 3 lastTransitionTime time, 4 reason string,
    5 message string
apps.DaemonSet: 1 metadata meta.ObjectMeta, 2 spec apps.DaemonSetSpec, 3 status apps.DaemonSetStatus
apps.DaemonSetSpec: 1 selector *meta.LabelSelector, 2 template PodTemplateSpec,
    3 updateStrategy apps.DaemonSetUpdateStrategy, 4 minReadySeconds int32, 6 revisionHistoryLimit *int32
apps.DaemonSetUpdateStrategy: 1 type string, 2 rollingUpdate *apps.RollingUpdateDaemonSet
apps.RollingUpdateDaemonSet: 1 maxUnavailable *intstr, 2 maxSurge *intstr
apps.DaemonSetStatus: 1 currentNumberScheduled int32, 2 numberMisscheduled int32, 3 desiredNumberScheduled int32,
    4 numberReady int32, 5 observedGeneration int64, 6 updatedNumberScheduled int32, 7 numberAvailable int32,
    8 numberUnavailable int32, 9 collisionCount *int32, 10 conditions []apps.DaemonSetCondition
apps.DaemonSetCondition: 1 type string, 2 status string, 3 lastTransitionTime time, 4 reason string,
    5 message string
policy.PodDisruptionBudget: 1 metadata meta.ObjectMeta, 2 spec policy.PodDisruptionBudgetSpec,
    3 status policy.PodDisruptionBudgetStatus
policy.PodDisruptionBudgetSpec: 1 minAvailable *intstr, 2 selector *meta.LabelSelector, 3 maxUnavailable *intstr,
    4 unhealthyPodEvictionPolicy *string
policy.PodDisruptionBudgetStatus: 1 observedGeneration int64, 2 disruptedPods {}time, 3 disruptionsAllowed int32,
    4 currentHealthy int32, 5 desiredHealthy int32, 6 expectedPods int32, 7 conditions []meta.Condition
policy.Eviction: 1 metadata meta.ObjectMeta, 2 deleteOptions *meta.DeleteOptions
scheduling.PriorityClass: 1 metadata meta.ObjectMeta, 2 value int32, 3 globalDefault bool, 4 description string,
    5 preemptionPolicy *string
meta.DeleteOptions: 1 gracePeriodSeconds *int64, 2 preconditions *meta.Preconditions,
    3 orphanDependents *bool, 4 propagationPolicy *string, 5 dryRun []string,
    6 ignoreStoreReadErrorWithClusterBreakingPotential *bool
meta.Preconditions: 1 uid *string, 2 resourceVersion *string
autoscaling.Scale: 1 metadata meta.ObjectMeta, 2 spec autoscaling.ScaleSpec, 3 status autoscaling.ScaleStatus
autoscaling.ScaleSpec: 1 replicas int32
autoscaling.ScaleStatus: 1 replicas int32, 2 selector string
Service: 1 metadata meta.ObjectMeta, 2 spec ServiceSpec, 3 status ServiceStatus
ServiceSpec: 1 ports []ServicePort, 2 selector {}string, 3 clusterIP string, 18 clusterIPs []string, 4 type string,
    5 externalIPs []string, 7 sessionAffinity string, 8 loadBalancerIP string,
    9 loadBalancerSourceRanges []string, 10 externalName string, 11 externalTrafficPolicy string,
    12 healthCheckNodePort int32, 13 publishNotReadyAddresses bool,
    14 sessionAffinityConfig *SessionAffinityConfig, 19 ipFamilies []string, 17 ipFamilyPolicy *string,
    20 allocateLoadBalancerNodePorts *bool, 21 loadBalancerClass *string, 22 internalTrafficPolicy *string,
    23 trafficDistribution *string
ServicePort: 1 name string, 2 protocol string, 6 appProtocol *string, 3 port int32, 4 targetPort intstr,
    5 nodePort int32
SessionAffinityConfig: 1 clientIP *ClientIPConfig
ClientIPConfig: 1 timeoutSeconds *int32
ServiceStatus: 1 loadBalancer LoadBalancerStatus, 2 conditions []meta.Condition
LoadBalancerStatus: 1 ingress []LoadBalancerIngress
LoadBalancerIngress: 1 ip string, 2 hostname string, 3 ipMode *string, 4 ports []PortStatus
PortStatus: 1 port int32, 2 protocol string, 3 error *string
meta.Condition: 1 type string, 2 status string, 3 observedGeneration int64, 4 lastTransitionTime time,
    5 reason string, 6 message string
Endpoints: 1 metadata meta.ObjectMeta, 2 subsets []EndpointSubset
EndpointSubset: 1 addresses []EndpointAddress, 2 notReadyAddresses []EndpointAddress, 3 ports []EndpointPort
EndpointAddress: 1 ip string, 3 hostname string, 4 nodeName *string, 2 targetRef *ObjectReference
EndpointPort: 1 name string, 2 port int32, 3 protocol string, 4 appProtocol *string
discovery.EndpointSlice: 1 metadata meta.ObjectMeta, 4 addressType string, 2 endpoints []discovery.Endpoint,
    3 ports []discovery.EndpointPort
discovery.Endpoint: 1 addresses []string, 2 conditions discovery.EndpointConditions, 3 hostname *string,
    4 targetRef *ObjectReference, 5 deprecatedTopology {}string, 6 nodeName *string, 7 zone *string,
    8 hints *discovery.EndpointHints
discovery.EndpointConditions: 1 ready *bool, 2 serving *bool, 3 terminating *bool
discovery.EndpointHints: 1 forZones []discovery.ForZone, 2 forNodes []discovery.ForNode
discovery.ForZone: 1 name string
discovery.ForNode: 1 name string
discovery.EndpointPort: 1 name *string, 2 protocol *string, 3 port *int32, 4 appProtocol *string
ReplicationController: 1 metadata meta.ObjectMeta, 2 spec ReplicationControllerSpec,
    3 status ReplicationControllerStatus
ReplicationControllerSpec: 1 replicas *int32, 4 minReadySeconds int32, 2 selector {}string,
    3 template *PodTemplateSpec
ReplicationControllerStatus: 1 replicas int32, 2 fullyLabeledReplicas int32, 4 readyReplicas int32,
    5 availableReplicas int32, 3 observedGeneration int64, 6 conditions []ReplicationControllerCondition
ReplicationControllerCondition: 1 type string, 2 status string, 3 lastTransitionTime time, 4 reason string,
    5 message string
rbac.Role: 1 metadata meta.ObjectMeta, 2 rules []rbac.PolicyRule
rbac.PolicyRule: 1 verbs []string, 2 apiGroups []string, 3 resources []string, 4 resourceNames []string,
    5 nonResourceURLs []string
rbac.ClusterRole: 1 metadata meta.ObjectMeta, 2 rules []rbac.PolicyRule, 3 aggregationRule *rbac.AggregationRule
rbac.AggregationRule: 1 clusterRoleSelectors []meta.LabelSelector
rbac.RoleBinding: 1 metadata meta.ObjectMeta, 2 subjects []rbac.Subject, 3 roleRef rbac.RoleRef
rbac.ClusterRoleBinding: 1 metadata meta.ObjectMeta, 2 subjects []rbac.Subject, 3 roleRef rbac.RoleRef
rbac.Subject: 1 kind string, 2 apiGroup string, 3 name string, 4 namespace string
rbac.RoleRef: 1 apiGroup string, 2 kind string, 3 name string
authz.SelfSubjectAccessReview: 1 metadata meta.ObjectMeta, 2 spec authz.SelfSubjectAccessReviewSpec,
    3 status authz.SubjectAccessReviewStatus
authz.SelfSubjectAccessReviewSpec: 1 resourceAttributes *authz.ResourceAttributes,
    2 nonResourceAttributes *authz.NonResourceAttributes
authz.SubjectAccessReview: 1 metadata meta.ObjectMeta, 2 spec authz.SubjectAccessReviewSpec,
    3 status authz.SubjectAccessReviewStatus
authz.SubjectAccessReviewSpec: 1 resourceAttributes *authz.ResourceAttributes,
    2 nonResourceAttributes *authz.NonResourceAttributes, 3 user string, 4 groups []string, 6 uid string
authz.ResourceAttributes: 1 namespace string, 2 verb string, 3 group string, 4 version string,
    5 resource string, 6 subresource string, 7 name string, 8 fieldSelector *authz.FieldSelectorAttributes,
    9 labelSelector *authz.LabelSelectorAttributes
authz.FieldSelectorAttributes: 1 rawSelector string, 2 requirements []meta.FieldSelectorRequirement
authz.LabelSelectorAttributes: 1 rawSelector string, 2 requirements []meta.LabelSelectorRequirement
meta.FieldSelectorRequirement: 1 key string, 2 operator string, 3 values []string
authz.NonResourceAttributes: 1 path string, 2 verb string
authz.SubjectAccessReviewStatus: 1 allowed bool, 4 denied bool, 2 reason string, 3 evaluationError string
authz.SelfSubjectRulesReview: 1 metadata meta.ObjectMeta, 2 spec authz.SelfSubjectRulesReviewSpec,
    3 status authz.SubjectRulesReviewStatus
authz.SelfSubjectRulesReviewSpec: 1 namespace string
authz.SubjectRulesReviewStatus: 1 resourceRules []authz.ResourceRule, 2 nonResourceRules []authz.NonResourceRule,
    3 incomplete bool, 4 evaluationError string
authz.ResourceRule: 1 verbs []string, 2 apiGroups []string, 3 resources []string, 4 resourceNames []string
authz.NonResourceRule: 1 verbs []string, 2 nonResourceURLs []string
authn.SelfSubjectReview: 1 metadata meta.ObjectMeta, 2 status authn.SelfSubjectReviewStatus
authn.SelfSubjectReviewStatus: 1 userInfo authn.UserInfo
authn.UserInfo: 1 username string, 2 uid string, 3 groups []string
authn.TokenReview: 1 metadata meta.ObjectMeta, 2 spec authn.TokenReviewSpec, 3 status authn.TokenReviewStatus
authn.TokenReviewSpec: 1 token string, 2 audiences []string
authn.TokenReviewStatus: 1 authenticated bool, 2 user authn.UserInfo, 4 audiences []string, 3 error string
authn.TokenRequest: 1 metadata meta.ObjectMeta, 2 spec authn.TokenRequestSpec, 3 status authn.TokenRequestStatus
authn.TokenRequestStatus: 1 token string, 2 expirationTimestamp time
authn.TokenRequestSpec: 1 audiences []string, 4 expirationSeconds *int64, 3 boundObjectRef *authn.BoundObjectReference
authn.BoundObjectReference: 1 kind string, 2 apiVersion string, 3 name string, 4 uid string"""

# The `k8s\x00` envelope around every object: runtime.Unknown and its own TypeMeta (apiVersion first).
_ENVELOPE = """
runtime.Unknown: 1 typeMeta runtime.TypeMeta, 2 raw bytes, 3 contentEncoding string, 4 contentType string
runtime.TypeMeta: 1 apiVersion string, 2 kind string
"""

# apiVersion and kind of the envelope -> the message of the object it holds.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace", ("v1", "Pod"): "Pod", ("v1", "Node"): "Node", ("v1", "Event"): "Event",
    ("v1", "Secret"): "Secret", ("v1", "ConfigMap"): "ConfigMap", ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Binding"): "Binding", ("coordination.k8s.io/v1", "Lease"): "coordination.Lease",
    ("apps/v1", "ReplicaSet"): "apps.ReplicaSet", ("apps/v1", "Deployment"): "apps.Deployment",
    ("apps/v1", "ControllerRevision"): "apps.ControllerRevision",
    ("batch/v1", "Job"): "batch.Job",
    ("batch/v1", "CronJob"): "batch.CronJob",
    ("apps/v1", "DaemonSet"): "apps.DaemonSet",
    ("apps/v1", "StatefulSet"): "apps.StatefulSet",
    # pods/eviction: older clients still send the v1beta1 Eviction, which has the same fields.
    ("policy/v1", "Eviction"): "policy.Eviction", ("policy/v1beta1", "Eviction"): "policy.Eviction",
    ("policy/v1", "PodDisruptionBudget"): "policy.PodDisruptionBudget",
    ("scheduling.k8s.io/v1", "PriorityClass"): "scheduling.PriorityClass",
    ("autoscaling/v1", "Scale"): "autoscaling.Scale", ("v1", "Service"): "Service", ("v1", "Endpoints"): "Endpoints",
    ("discovery.k8s.io/v1", "EndpointSlice"): "discovery.EndpointSlice",
    ("v1", "ReplicationController"): "ReplicationController",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.ClusterRoleBinding",
    # reviews and token requests: create-only, their requests as kubectl's typed clients send them
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "authz.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "authz.SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "authz.SubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "authz.SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "authn.SelfSubjectReview",
    ("authentication.k8s.io/v1", "TokenReview"): "authn.TokenReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "authn.TokenRequest",
}

_SCALARS = {"string", "bytes", "bool", "int32", "int64"}
_SPECIAL = {"time", "microtime", "quantity", "intstr", "raw", "fieldsv1"}
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_NUMERIC = {"bool", "int32", "int64"}


@dataclass(frozen=True)
class Field:
    """One field of a message: how to find it on the wire and how JSON names and writes it."""

    number: int
    name: str
    label: str  # "", "*", "[]", "{}" or "^"
    type: str

    @property
    def wire(self) -> int:
        """The wire type of one (unpacked) value of this field."""
        return _VARINT if self.type in _NUMERIC else _LEN


def _parse_schema(text: str) -> dict[str, dict[int, Field]]:
    messages: dict[str, dict[int, Field]] = {}
    for entry in re.split(r"\n(?! )", text.strip()):
        name, _, body = entry.partition(":")
        fields: dict[int, Field] = {}
        for spec in body.replace("\n", " ").split(","):
            number, json_name, typ = spec.split()
            label = re.match(r"\*|\[\]|\{\}|\^|", typ)
            assert label is not None
            fields[int(number)] = Field(int(number), "" if json_name == "-" else json_name, label.group(),
                                        typ[label.end():])
        messages[name.strip()] = fields
    return messages


MESSAGES = _parse_schema(_SCHEMA) | _parse_schema(_ENVELOPE)
# A typo in the table would otherwise surface only when that field is first sent.
for _msg, _fields in MESSAGES.items():
    for _f in _fields.values():
        assert _f.type in MESSAGES or _f.type in _SCALARS | _SPECIAL, (_msg, _f)
        assert _f.label != "^" or _f.type in MESSAGES, (_msg, _f)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """The unsigned 64-bit value of the varint at `i`, and where it ends (at most 10 bytes, as Go)."""
    result = 0
    for shift in range(0, 70, 7):
        if i >= len(buf):
            raise BadRequest("invalid protobuf: truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, i
    raise BadRequest("invalid protobuf: varint longer than 10 bytes")


@dataclass(frozen=True)
class _Raw:
    """One field occurrence as read off the wire: an int for varint/fixed, bytes for length-delimited."""

    wire: int
    value: int | bytes


def _scan(buf: bytes, path: str) -> dict[int, list[_Raw]]:
    """Every field occurrence of a message, by number, in wire order; only framing is checked here."""
    out: dict[int, list[_Raw]] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise BadRequest(f"invalid protobuf in {path or 'the object'}: field number {number}")
        value: int | bytes
        if wire == _VARINT:
            value, i = _varint(buf, i)
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if i + size > len(buf):
                raise BadRequest(f"invalid protobuf in {path or 'the object'}: truncated fixed-size field "
                                 f"#{number}")
            value, i = int.from_bytes(buf[i:i + size], "little"), i + size
        elif wire == _LEN:
            n, i = _varint(buf, i)
            if n > len(buf) - i:
                raise BadRequest(f"invalid protobuf in {path or 'the object'}: field #{number} is longer "
                                 "than the message")
            value, i = buf[i:i + n], i + n
        else:  # groups (3, 4) are not used by Kubernetes; 6 and 7 do not exist
            raise BadRequest(f"invalid protobuf in {path or 'the object'}: wire type {wire} of field #{number}")
        out.setdefault(number, []).append(_Raw(wire, value))
    return out


def _signed(value: int, bits: int) -> int:
    """Go's truncating conversion of a varint to int32/int64."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"invalid protobuf: {path} is not valid UTF-8") from e


def _json(data: bytes, path: str) -> Any:
    """The JSON a RawExtension or FieldsV1 holds, within the limits of every JSON body (`decoding`);
    the depth of the object it ends up in is checked once the whole object is decoded."""
    _text(data, path)
    return load_json(data, f"invalid protobuf: {path} does not hold JSON: ")


_GO_ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _time(data: bytes, path: str, micro: bool) -> str | None:
    """metav1.Time / MicroTime: a Timestamp message; empty is Go's zero time, which JSON writes as null."""
    if not data:
        return None
    ts = _message("meta.Timestamp", data, path)
    seconds, nanos = ts.get("seconds", 0), ts.get("nanos", 0)
    # Time keeps whole seconds (its JSON has no fraction); MicroTime truncates nanos towards zero.
    micros = (abs(nanos) // 1000 * (1 if nanos >= 0 else -1)) if micro else 0
    try:
        when = _EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)
    except OverflowError as e:
        raise BadRequest(f"invalid protobuf: {path} is out of range") from e
    if when == _GO_ZERO_TIME:
        return None
    # isoformat, not strftime: %Y does not pad years before 1000 to four digits as Go does.
    return when.replace(tzinfo=None).isoformat(timespec="microseconds" if micro else "seconds") + "Z"


def _special(typ: str, data: bytes, path: str) -> Any:
    """The JSON form of an apimachinery type with its own (non-object) JSON encoding; None means null."""
    if typ in ("time", "microtime"):
        return _time(data, path, typ == "microtime")
    if typ == "quantity":
        # Go writes q.String(), which is "0" for a zero Quantity; a missing string is that zero.
        return _message("resource.Quantity", data, path).get("string", "0")
    if typ == "intstr":
        v = _message("intstr.IntOrString", data, path)
        kind = v.get("type", 0)
        if kind not in (0, 1):
            raise BadRequest(f"invalid protobuf: {path} has IntOrString type {kind}")
        return v.get("strVal", "") if kind == 1 else v.get("intVal", 0)
    # raw (runtime.RawExtension) and fieldsv1 hold JSON bytes; empty is Go's nil, written as null.
    fields = _message("runtime.RawBytes", data, path)
    raw = base64.b64decode(fields["raw"]) if "raw" in fields else b""
    return _json(raw, path) if raw else None


# Messages of apimachinery types with their own JSON form, decoded by `_special`.
_SPECIAL_MESSAGES = """
meta.Timestamp: 1 seconds int64, 2 nanos int32
resource.Quantity: 1 string string
intstr.IntOrString: 1 type int64, 2 intVal int32, 3 strVal string
runtime.RawBytes: 1 raw bytes
"""
MESSAGES |= _parse_schema(_SPECIAL_MESSAGES)


def _scalar(field: Field, raw: _Raw, path: str) -> Any:
    """One value of a scalar field, after checking the wire type fits the declared type."""
    if raw.wire != field.wire:
        raise BadRequest(f"invalid protobuf: {path} is {field.type} but has wire type {raw.wire}")
    value = raw.value
    if isinstance(value, int):
        if field.type == "bool":
            return value != 0
        return _signed(value, 32 if field.type == "int32" else 64)
    if field.type == "string":
        return _text(value, path)
    return base64.b64encode(value).decode()  # bytes, as JSON writes []byte


def _unpacked(field: Field, raws: list[_Raw], path: str) -> list[_Raw]:
    """Repeated numbers may come packed in one length-delimited run (proto3 style); Go accepts both."""
    if field.type not in _NUMERIC:
        return raws
    out: list[_Raw] = []
    for raw in raws:
        if raw.wire == _LEN and isinstance(raw.value, bytes):
            i = 0
            while i < len(raw.value):
                v, i = _varint(raw.value, i)
                out.append(_Raw(_VARINT, v))
        else:
            out.append(raw)
    return out


def _value(field: Field, raws: list[_Raw], path: str) -> tuple[bool, Any]:
    """(present, JSON value) of a singular field from all its occurrences (protobuf: the last wins,
    messages merge)."""
    if field.type in _SCALARS:
        value = _scalar(field, raws[-1], path)
        # A non-pointer Go field is always marshalled; empty it means what JSON would have omitted.
        if field.label == "" and value in ("", 0, False):
            return False, None
        return True, value
    data = _payload(field, raws, path)
    if field.type in _SPECIAL:
        value = _special(field.type, data, path)
        return value is not None, value
    return True, _message(field.type, data, path)


def _payload(field: Field, raws: list[_Raw], path: str) -> bytes:
    chunks: list[bytes] = []
    for raw in raws:
        if raw.wire != _LEN or not isinstance(raw.value, bytes):
            raise BadRequest(f"invalid protobuf: {path} is a {field.type} message but has wire type {raw.wire}")
        chunks.append(raw.value)
    # Go's custom unmarshallers (Time, Quantity, ...) replace; repeated occurrences of a message merge,
    # which is what decoding their concatenation does.
    return chunks[-1] if field.type in _SPECIAL else b"".join(chunks)


def _map(field: Field, raws: list[_Raw], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    value_field = Field(2, "", "[]", field.type)  # "[]": an empty value is still the entry's value
    for raw in raws:
        if raw.wire != _LEN or not isinstance(raw.value, bytes):
            raise BadRequest(f"invalid protobuf: {path} is a map but has wire type {raw.wire}")
        entry = _scan(raw.value, path)
        for number in entry:
            if number not in (1, 2):
                _unknown_field(path, number, entry[number])
        key = _scalar(Field(1, "", "[]", "string"), entry[1][-1], f"{path} key") if 1 in entry else ""
        sub = f"{path}[{key}]"
        if 2 not in entry:
            # Go fills a missing value with its zero value.
            value: Any = {"string": "", "bytes": "", "quantity": "0"}.get(field.type, {})
        elif field.type in _SCALARS:
            value = _scalar(value_field, entry[2][-1], sub)
        else:
            value = _value(value_field, entry[2], sub)[1]
        out[key] = value
    return out


def _unknown_field(path: str, number: int, raws: list[_Raw]) -> None:
    """A field number the tables do not know (a newer client's field, or a different message).

    Its type is unknown, so its bytes are never interpreted. Go marshals every non-pointer field of a
    newer API even when empty; one empty occurrence (varint 0, fixed 0 or zero length) is that and
    carries no data, so it is skipped. Anything else might be data and is refused rather than dropped.
    """
    if len(raws) == 1 and raws[0].value in (0, b""):
        return
    where = path or "the object"
    raise UnsupportedMediaType(f"protobuf field #{number} of {where} is not supported by podfleet; "
                               "send the object as application/json")


def _message(name: str, buf: bytes, path: str = "") -> dict[str, Any]:
    """The JSON object of message `name` encoded in `buf`."""
    schema = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, raws in _scan(buf, path).items():
        field = schema.get(number)
        if field is None:
            _unknown_field(path, number, raws)
            continue
        sub = f"{path}.{field.name}" if path else field.name
        if field.label == "^":
            # An embedded struct JSON inlines: its fields sit in this object.
            out.update(_message(field.type, _payload(field, raws, path), path))
        elif field.label == "{}":
            out.setdefault(field.name, {}).update(_map(field, raws, sub))
        elif field.label == "[]":
            items = out.setdefault(field.name, [])
            for raw in _unpacked(field, raws, sub):
                item = f"{sub}[{len(items)}]"
                items.append(_scalar(field, raw, item) if field.type in _SCALARS
                             else _value(field, [raw], item)[1])
        else:
            present, value = _value(field, raws, sub)
            if present:
                out[field.name] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object: `k8s\\x00` + runtime.Unknown."""
    if not body.startswith(MAGIC):
        raise BadRequest("protobuf body does not start with the Kubernetes magic prefix")
    envelope = _message("runtime.Unknown", body[len(MAGIC):], "envelope")
    if envelope.get("contentEncoding"):
        raise UnsupportedMediaType(f"protobuf content encoding {envelope['contentEncoding']!r} is not supported")
    if envelope.get("contentType", MEDIA_TYPE) != MEDIA_TYPE:
        raise UnsupportedMediaType(f"protobuf envelope holding {envelope['contentType']!r} is not supported")
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if not kind or not api_version:
        raise BadRequest("protobuf envelope does not name the object's apiVersion and kind")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedMediaType(f"protobuf encoding of {api_version} {kind} is not supported; "
                                   "send application/json")
    obj = _message(message, base64.b64decode(envelope.get("raw", "")))
    if depth(obj) > MAX_DEPTH:  # messages nest as their types do, but RawExtension JSON nests freely
        raise BadRequest("invalid protobuf: " + too_deep_message(MAX_DEPTH))
    return {"apiVersion": api_version, "kind": kind, **obj}
