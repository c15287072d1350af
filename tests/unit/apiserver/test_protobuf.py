"""Decoding kubectl's protobuf request bodies (`application/vnd.kubernetes.protobuf`).

The decoder's field tables are checked against objects encoded by a real protobuf encoder (`google.protobuf`), from
message descriptors built here out of `UPSTREAM` below: the upstream `generated.proto` messages (k8s.io/api core,
apps, coordination, policy, discovery, rbac, autoscaling, authorization and authentication v1; apimachinery
meta/v1) reachable from every kind podfleet serves (less the reviews' `extra` maps and a StatefulSet's
`volumeClaimTemplates`, which podfleet refuses with 415), transcribed from those .proto files and not from
podfleet's tables. Two marks come from the Go types, since JSON depends on them and .proto does not carry them:
`ptr` is a Go pointer field (emitted only when set, so kept in JSON even when zero) and `inline` an embedded struct
whose fields JSON writes into the parent.

The expected JSON is computed here from the encoded message with Go's JSON rules: a zero non-pointer
scalar is omitted, a set message is an object, `[]byte` is base64, Time/MicroTime are RFC 3339
strings, Quantity a string, IntOrString an int or a string, RawExtension/FieldsV1 the JSON they hold.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podfleet.api.errors import APIError, BadRequest, UnsupportedMediaType
from podfleet.apiserver.protobuf import MAGIC, decode

UPSTREAM = """
message Namespace { optional meta.ObjectMeta metadata = 1; optional NamespaceSpec spec = 2;
  optional NamespaceStatus status = 3; }
message meta.ObjectMeta { optional string name = 1; optional string generateName = 2;
  optional string namespace = 3; optional string selfLink = 4; optional string uid = 5;
  optional string resourceVersion = 6; optional int64 generation = 7; optional Time creationTimestamp = 8;
  ptr Time deletionTimestamp = 9; ptr int64 deletionGracePeriodSeconds = 10; map<string, string> labels = 11;
  map<string, string> annotations = 12; repeated meta.OwnerReference ownerReferences = 13;
  repeated string finalizers = 14; repeated meta.ManagedFieldsEntry managedFields = 17; }
message meta.OwnerReference { optional string apiVersion = 5; optional string kind = 1;
  optional string name = 3; optional string uid = 4; ptr bool controller = 6; ptr bool blockOwnerDeletion = 7; }
message meta.ManagedFieldsEntry { optional string manager = 1; optional string operation = 2;
  optional string apiVersion = 3; ptr Time time = 4; optional string fieldsType = 6; ptr FieldsV1 fieldsV1 = 7;
  optional string subresource = 8; }
message NamespaceSpec { repeated string finalizers = 1; }
message NamespaceStatus { optional string phase = 1; repeated NamespaceCondition conditions = 2; }
message NamespaceCondition { optional string type = 1; optional string status = 2;
  optional Time lastTransitionTime = 4; optional string reason = 5; optional string message = 6; }
message Pod { optional meta.ObjectMeta metadata = 1; optional PodSpec spec = 2; optional PodStatus status = 3; }
message PodSpec { repeated Volume volumes = 1; repeated Container initContainers = 20;
  repeated Container containers = 2; repeated EphemeralContainer ephemeralContainers = 34;
  optional string restartPolicy = 3; ptr int64 terminationGracePeriodSeconds = 4;
  ptr int64 activeDeadlineSeconds = 5; optional string dnsPolicy = 6; map<string, string> nodeSelector = 7;
  optional string serviceAccountName = 8; optional string serviceAccount = 9;
  ptr bool automountServiceAccountToken = 21; optional string nodeName = 10; optional bool hostNetwork = 11;
  optional bool hostPID = 12; optional bool hostIPC = 13; ptr bool shareProcessNamespace = 27;
  ptr PodSecurityContext securityContext = 14; repeated LocalObjectReference imagePullSecrets = 15;
  optional string hostname = 16; optional string subdomain = 17; ptr Affinity affinity = 18;
  optional string schedulerName = 19; repeated Toleration tolerations = 22; repeated HostAlias hostAliases = 23;
  optional string priorityClassName = 24; ptr int32 priority = 25; ptr PodDNSConfig dnsConfig = 26;
  repeated PodReadinessGate readinessGates = 28; ptr string runtimeClassName = 29;
  ptr bool enableServiceLinks = 30; ptr string preemptionPolicy = 31; map<string, Quantity> overhead = 32;
  repeated TopologySpreadConstraint topologySpreadConstraints = 33; ptr bool setHostnameAsFQDN = 35;
  ptr PodOS os = 36; ptr bool hostUsers = 37; repeated PodSchedulingGate schedulingGates = 38;
  repeated PodResourceClaim resourceClaims = 39; ptr ResourceRequirements resources = 40;
  ptr string hostnameOverride = 41; ptr PodSchedulingGroup schedulingGroup = 43;
  repeated EvictionResponder evictionResponders = 44; }
message Volume { optional string name = 1; inline VolumeSource volumeSource = 2; }
message VolumeSource { ptr HostPathVolumeSource hostPath = 1; ptr EmptyDirVolumeSource emptyDir = 2;
  ptr GCEPersistentDiskVolumeSource gcePersistentDisk = 3;
  ptr AWSElasticBlockStoreVolumeSource awsElasticBlockStore = 4; ptr GitRepoVolumeSource gitRepo = 5;
  ptr SecretVolumeSource secret = 6; ptr NFSVolumeSource nfs = 7; ptr ISCSIVolumeSource iscsi = 8;
  ptr GlusterfsVolumeSource glusterfs = 9; ptr PersistentVolumeClaimVolumeSource persistentVolumeClaim = 10;
  ptr RBDVolumeSource rbd = 11; ptr FlexVolumeSource flexVolume = 12; ptr CinderVolumeSource cinder = 13;
  ptr CephFSVolumeSource cephfs = 14; ptr FlockerVolumeSource flocker = 15;
  ptr DownwardAPIVolumeSource downwardAPI = 16; ptr FCVolumeSource fc = 17;
  ptr AzureFileVolumeSource azureFile = 18; ptr ConfigMapVolumeSource configMap = 19;
  ptr VsphereVirtualDiskVolumeSource vsphereVolume = 20; ptr QuobyteVolumeSource quobyte = 21;
  ptr AzureDiskVolumeSource azureDisk = 22; ptr PhotonPersistentDiskVolumeSource photonPersistentDisk = 23;
  ptr ProjectedVolumeSource projected = 26; ptr PortworxVolumeSource portworxVolume = 24;
  ptr ScaleIOVolumeSource scaleIO = 25; ptr StorageOSVolumeSource storageos = 27; ptr CSIVolumeSource csi = 28;
  ptr EphemeralVolumeSource ephemeral = 29; ptr ImageVolumeSource image = 30; }
message HostPathVolumeSource { optional string path = 1; ptr string type = 2; }
message EmptyDirVolumeSource { optional string medium = 1; ptr Quantity sizeLimit = 2; ptr int32 mode = 3; }
message GCEPersistentDiskVolumeSource { optional string pdName = 1; optional string fsType = 2;
  optional int32 partition = 3; optional bool readOnly = 4; }
message AWSElasticBlockStoreVolumeSource { optional string volumeID = 1; optional string fsType = 2;
  optional int32 partition = 3; optional bool readOnly = 4; }
message GitRepoVolumeSource { optional string repository = 1; optional string revision = 2;
  optional string directory = 3; }
message SecretVolumeSource { optional string secretName = 1; repeated KeyToPath items = 2;
  ptr int32 defaultMode = 3; ptr bool optional = 4; ptr int64 defaultUser = 5; }
message KeyToPath { optional string key = 1; optional string path = 2; ptr int32 mode = 3; ptr int64 user = 4; }
message NFSVolumeSource { optional string server = 1; optional string path = 2; optional bool readOnly = 3; }
message ISCSIVolumeSource { optional string targetPortal = 1; optional string iqn = 2; optional int32 lun = 3;
  optional string iscsiInterface = 4; optional string fsType = 5; optional bool readOnly = 6;
  repeated string portals = 7; optional bool chapAuthDiscovery = 8; optional bool chapAuthSession = 11;
  ptr LocalObjectReference secretRef = 10; ptr string initiatorName = 12; }
message LocalObjectReference { optional string name = 1; }
message GlusterfsVolumeSource { optional string endpoints = 1; optional string path = 2;
  optional bool readOnly = 3; }
message PersistentVolumeClaimVolumeSource { optional string claimName = 1; optional bool readOnly = 2; }
message RBDVolumeSource { repeated string monitors = 1; optional string image = 2; optional string fsType = 3;
  optional string pool = 4; optional string user = 5; optional string keyring = 6;
  ptr LocalObjectReference secretRef = 7; optional bool readOnly = 8; }
message FlexVolumeSource { optional string driver = 1; optional string fsType = 2;
  ptr LocalObjectReference secretRef = 3; optional bool readOnly = 4; map<string, string> options = 5; }
message CinderVolumeSource { optional string volumeID = 1; optional string fsType = 2;
  optional bool readOnly = 3; ptr LocalObjectReference secretRef = 4; }
message CephFSVolumeSource { repeated string monitors = 1; optional string path = 2; optional string user = 3;
  optional string secretFile = 4; ptr LocalObjectReference secretRef = 5; optional bool readOnly = 6; }
message FlockerVolumeSource { optional string datasetName = 1; optional string datasetUUID = 2; }
message DownwardAPIVolumeSource { repeated DownwardAPIVolumeFile items = 1; ptr int32 defaultMode = 2;
  ptr int64 defaultUser = 3; }
message DownwardAPIVolumeFile { optional string path = 1; ptr ObjectFieldSelector fieldRef = 2;
  ptr ResourceFieldSelector resourceFieldRef = 3; ptr int32 mode = 4; ptr int64 user = 5; }
message ObjectFieldSelector { optional string apiVersion = 1; optional string fieldPath = 2; }
message ResourceFieldSelector { optional string containerName = 1; optional string resource = 2;
  optional Quantity divisor = 3; }
message FCVolumeSource { repeated string targetWWNs = 1; ptr int32 lun = 2; optional string fsType = 3;
  optional bool readOnly = 4; repeated string wwids = 5; }
message AzureFileVolumeSource { optional string secretName = 1; optional string shareName = 2;
  optional bool readOnly = 3; }
message ConfigMapVolumeSource { inline LocalObjectReference localObjectReference = 1;
  repeated KeyToPath items = 2; ptr int32 defaultMode = 3; ptr bool optional = 4; ptr int64 defaultUser = 5; }
message VsphereVirtualDiskVolumeSource { optional string volumePath = 1; optional string fsType = 2;
  optional string storagePolicyName = 3; optional string storagePolicyID = 4; }
message QuobyteVolumeSource { optional string registry = 1; optional string volume = 2;
  optional bool readOnly = 3; optional string user = 4; optional string group = 5; optional string tenant = 6; }
message AzureDiskVolumeSource { optional string diskName = 1; optional string diskURI = 2;
  ptr string cachingMode = 3; ptr string fsType = 4; ptr bool readOnly = 5; ptr string kind = 6; }
message PhotonPersistentDiskVolumeSource { optional string pdID = 1; optional string fsType = 2; }
message ProjectedVolumeSource { repeated VolumeProjection sources = 1; ptr int32 defaultMode = 2;
  ptr int64 defaultUser = 3; }
message VolumeProjection { ptr SecretProjection secret = 1; ptr DownwardAPIProjection downwardAPI = 2;
  ptr ConfigMapProjection configMap = 3; ptr ServiceAccountTokenProjection serviceAccountToken = 4;
  ptr ClusterTrustBundleProjection clusterTrustBundle = 5; ptr PodCertificateProjection podCertificate = 6; }
message SecretProjection { inline LocalObjectReference localObjectReference = 1; repeated KeyToPath items = 2;
  ptr bool optional = 4; }
message DownwardAPIProjection { repeated DownwardAPIVolumeFile items = 1; }
message ConfigMapProjection { inline LocalObjectReference localObjectReference = 1;
  repeated KeyToPath items = 2; ptr bool optional = 4; }
message ServiceAccountTokenProjection { optional string audience = 1; ptr int64 expirationSeconds = 2;
  optional string path = 3; ptr int64 user = 4; }
message ClusterTrustBundleProjection { ptr string name = 1; ptr string signerName = 2;
  ptr meta.LabelSelector labelSelector = 3; ptr bool optional = 5; optional string path = 4; ptr int64 user = 6; }
message meta.LabelSelector { map<string, string> matchLabels = 1;
  repeated meta.LabelSelectorRequirement matchExpressions = 2; }
message meta.LabelSelectorRequirement { optional string key = 1; optional string operator = 2;
  repeated string values = 3; }
message PodCertificateProjection { optional string signerName = 1; optional string keyType = 2;
  ptr int32 maxExpirationSeconds = 3; optional string credentialBundlePath = 4; optional string keyPath = 5;
  optional string certificateChainPath = 6; map<string, string> userAnnotations = 7; ptr int64 user = 8; }
message PortworxVolumeSource { optional string volumeID = 1; optional string fsType = 2;
  optional bool readOnly = 3; }
message ScaleIOVolumeSource { optional string gateway = 1; optional string system = 2;
  ptr LocalObjectReference secretRef = 3; optional bool sslEnabled = 4; optional string protectionDomain = 5;
  optional string storagePool = 6; optional string storageMode = 7; optional string volumeName = 8;
  optional string fsType = 9; optional bool readOnly = 10; }
message StorageOSVolumeSource { optional string volumeName = 1; optional string volumeNamespace = 2;
  optional string fsType = 3; optional bool readOnly = 4; ptr LocalObjectReference secretRef = 5; }
message CSIVolumeSource { optional string driver = 1; ptr bool readOnly = 2; ptr string fsType = 3;
  map<string, string> volumeAttributes = 4; ptr LocalObjectReference nodePublishSecretRef = 5; }
message EphemeralVolumeSource { ptr PersistentVolumeClaimTemplate volumeClaimTemplate = 1; }
message PersistentVolumeClaimTemplate { optional meta.ObjectMeta metadata = 1;
  optional PersistentVolumeClaimSpec spec = 2; }
message PersistentVolumeClaimSpec { repeated string accessModes = 1; ptr meta.LabelSelector selector = 4;
  optional VolumeResourceRequirements resources = 2; optional string volumeName = 3;
  ptr string storageClassName = 5; ptr string volumeMode = 6; ptr TypedLocalObjectReference dataSource = 7;
  ptr TypedObjectReference dataSourceRef = 8; ptr string volumeAttributesClassName = 9; }
message VolumeResourceRequirements { map<string, Quantity> limits = 1; map<string, Quantity> requests = 2; }
message TypedLocalObjectReference { ptr string apiGroup = 1; optional string kind = 2; optional string name = 3; }
message TypedObjectReference { ptr string apiGroup = 1; optional string kind = 2; optional string name = 3;
  ptr string namespace = 4; }
message ImageVolumeSource { optional string reference = 1; optional string pullPolicy = 2; }
message Container { optional string name = 1; optional string image = 2; repeated string command = 3;
  repeated string args = 4; optional string workingDir = 5; repeated ContainerPort ports = 6;
  repeated EnvFromSource envFrom = 19; repeated EnvVar env = 7; optional ResourceRequirements resources = 8;
  repeated ContainerResizePolicy resizePolicy = 23; ptr string restartPolicy = 24;
  repeated ContainerRestartRule restartPolicyRules = 25; repeated VolumeMount volumeMounts = 9;
  repeated VolumeDevice volumeDevices = 21; ptr Probe livenessProbe = 10; ptr Probe readinessProbe = 11;
  ptr Probe startupProbe = 22; ptr Lifecycle lifecycle = 12; optional string terminationMessagePath = 13;
  optional string terminationMessagePolicy = 20; optional string imagePullPolicy = 14;
  ptr SecurityContext securityContext = 15; optional bool stdin = 16; optional bool stdinOnce = 17;
  optional bool tty = 18; }
message ContainerPort { optional string name = 1; optional int32 hostPort = 2; optional int32 containerPort = 3;
  optional string protocol = 4; optional string hostIP = 5; }
message EnvFromSource { optional string prefix = 1; ptr ConfigMapEnvSource configMapRef = 2;
  ptr SecretEnvSource secretRef = 3; }
message ConfigMapEnvSource { inline LocalObjectReference localObjectReference = 1; ptr bool optional = 2; }
message SecretEnvSource { inline LocalObjectReference localObjectReference = 1; ptr bool optional = 2; }
message EnvVar { optional string name = 1; optional string value = 2; ptr EnvVarSource valueFrom = 3; }
message EnvVarSource { ptr ObjectFieldSelector fieldRef = 1; ptr ResourceFieldSelector resourceFieldRef = 2;
  ptr ConfigMapKeySelector configMapKeyRef = 3; ptr SecretKeySelector secretKeyRef = 4;
  ptr FileKeySelector fileKeyRef = 5; }
message ConfigMapKeySelector { inline LocalObjectReference localObjectReference = 1; optional string key = 2;
  ptr bool optional = 3; }
message SecretKeySelector { inline LocalObjectReference localObjectReference = 1; optional string key = 2;
  ptr bool optional = 3; }
message FileKeySelector { optional string volumeName = 1; optional string path = 2; optional string key = 3;
  ptr bool optional = 4; }
message ResourceRequirements { map<string, Quantity> limits = 1; map<string, Quantity> requests = 2;
  repeated ResourceClaim claims = 3; }
message ResourceClaim { optional string name = 1; optional string request = 2; }
message ContainerResizePolicy { optional string resourceName = 1; optional string restartPolicy = 2; }
message ContainerRestartRule { optional string action = 1; ptr ContainerRestartRuleOnExitCodes exitCodes = 2; }
message ContainerRestartRuleOnExitCodes { optional string operator = 1; repeated int32 values = 2; }
message VolumeMount { optional string name = 1; optional bool readOnly = 2; ptr string recursiveReadOnly = 7;
  optional string mountPath = 3; optional string subPath = 4; ptr string mountPropagation = 5;
  optional string subPathExpr = 6; repeated string bindMountOptions = 8; }
message VolumeDevice { optional string name = 1; optional string devicePath = 2; }
message Probe { inline ProbeHandler handler = 1; optional int32 initialDelaySeconds = 2;
  optional int32 timeoutSeconds = 3; optional int32 periodSeconds = 4; optional int32 successThreshold = 5;
  optional int32 failureThreshold = 6; ptr int64 terminationGracePeriodSeconds = 7; }
message ProbeHandler { ptr ExecAction exec = 1; ptr HTTPGetAction httpGet = 2;
  ptr TCPSocketAction tcpSocket = 3; ptr GRPCAction grpc = 4; }
message ExecAction { repeated string command = 1; }
message HTTPGetAction { optional string path = 1; optional IntOrString port = 2; optional string host = 3;
  optional string scheme = 4; repeated HTTPHeader httpHeaders = 5; ptr string protocol = 6; }
message HTTPHeader { optional string name = 1; optional string value = 2; }
message TCPSocketAction { optional IntOrString port = 1; optional string host = 2; }
message GRPCAction { optional int32 port = 1; ptr string service = 2; ptr string mode = 3; }
message Lifecycle { ptr LifecycleHandler postStart = 1; ptr LifecycleHandler preStop = 2;
  ptr string stopSignal = 3; }
message LifecycleHandler { ptr ExecAction exec = 1; ptr HTTPGetAction httpGet = 2;
  ptr TCPSocketAction tcpSocket = 3; ptr SleepAction sleep = 4; }
message SleepAction { optional int64 seconds = 1; }
message SecurityContext { ptr Capabilities capabilities = 1; ptr bool privileged = 2;
  ptr SELinuxOptions seLinuxOptions = 3; ptr WindowsSecurityContextOptions windowsOptions = 10;
  ptr int64 runAsUser = 4; ptr int64 runAsGroup = 8; ptr bool runAsNonRoot = 5;
  ptr bool readOnlyRootFilesystem = 6; ptr bool allowPrivilegeEscalation = 7; ptr string procMount = 9;
  ptr SeccompProfile seccompProfile = 11; ptr AppArmorProfile appArmorProfile = 12; }
message Capabilities { repeated string add = 1; repeated string drop = 2; }
message SELinuxOptions { optional string user = 1; optional string role = 2; optional string type = 3;
  optional string level = 4; }
message WindowsSecurityContextOptions { ptr string gmsaCredentialSpecName = 1;
  ptr string gmsaCredentialSpec = 2; ptr string runAsUserName = 3; ptr bool hostProcess = 4; }
message SeccompProfile { optional string type = 1; ptr string localhostProfile = 2; }
message AppArmorProfile { optional string type = 1; ptr string localhostProfile = 2; }
message EphemeralContainer { inline EphemeralContainerCommon ephemeralContainerCommon = 1;
  optional string targetContainerName = 2; }
message EphemeralContainerCommon { optional string name = 1; optional string image = 2;
  repeated string command = 3; repeated string args = 4; optional string workingDir = 5;
  repeated ContainerPort ports = 6; repeated EnvFromSource envFrom = 19; repeated EnvVar env = 7;
  optional ResourceRequirements resources = 8; repeated ContainerResizePolicy resizePolicy = 23;
  ptr string restartPolicy = 24; repeated ContainerRestartRule restartPolicyRules = 25;
  repeated VolumeMount volumeMounts = 9; repeated VolumeDevice volumeDevices = 21; ptr Probe livenessProbe = 10;
  ptr Probe readinessProbe = 11; ptr Probe startupProbe = 22; ptr Lifecycle lifecycle = 12;
  optional string terminationMessagePath = 13; optional string terminationMessagePolicy = 20;
  optional string imagePullPolicy = 14; ptr SecurityContext securityContext = 15; optional bool stdin = 16;
  optional bool stdinOnce = 17; optional bool tty = 18; }
message PodSecurityContext { ptr SELinuxOptions seLinuxOptions = 1;
  ptr WindowsSecurityContextOptions windowsOptions = 8; ptr int64 runAsUser = 2; ptr int64 runAsGroup = 6;
  ptr bool runAsNonRoot = 3; repeated int64 supplementalGroups = 4; ptr string supplementalGroupsPolicy = 12;
  ptr int64 fsGroup = 5; repeated Sysctl sysctls = 7; ptr string fsGroupChangePolicy = 9;
  ptr SeccompProfile seccompProfile = 10; ptr AppArmorProfile appArmorProfile = 11;
  ptr string seLinuxChangePolicy = 13; }
message Sysctl { optional string name = 1; optional string value = 2; }
message Affinity { ptr NodeAffinity nodeAffinity = 1; ptr PodAffinity podAffinity = 2;
  ptr PodAntiAffinity podAntiAffinity = 3; }
message NodeAffinity { ptr NodeSelector requiredDuringSchedulingIgnoredDuringExecution = 1;
  repeated PreferredSchedulingTerm preferredDuringSchedulingIgnoredDuringExecution = 2; }
message NodeSelector { repeated NodeSelectorTerm nodeSelectorTerms = 1; }
message NodeSelectorTerm { repeated NodeSelectorRequirement matchExpressions = 1;
  repeated NodeSelectorRequirement matchFields = 2; }
message NodeSelectorRequirement { optional string key = 1; optional string operator = 2;
  repeated string values = 3; }
message PreferredSchedulingTerm { optional int32 weight = 1; optional NodeSelectorTerm preference = 2; }
message PodAffinity { repeated PodAffinityTerm requiredDuringSchedulingIgnoredDuringExecution = 1;
  repeated WeightedPodAffinityTerm preferredDuringSchedulingIgnoredDuringExecution = 2; }
message PodAffinityTerm { ptr meta.LabelSelector labelSelector = 1; repeated string namespaces = 2;
  optional string topologyKey = 3; ptr meta.LabelSelector namespaceSelector = 4;
  repeated string matchLabelKeys = 5; repeated string mismatchLabelKeys = 6; }
message WeightedPodAffinityTerm { optional int32 weight = 1; optional PodAffinityTerm podAffinityTerm = 2; }
message PodAntiAffinity { repeated PodAffinityTerm requiredDuringSchedulingIgnoredDuringExecution = 1;
  repeated WeightedPodAffinityTerm preferredDuringSchedulingIgnoredDuringExecution = 2; }
message Toleration { optional string key = 1; optional string operator = 2; optional string value = 3;
  optional string effect = 4; ptr int64 tolerationSeconds = 5; }
message HostAlias { optional string ip = 1; repeated string hostnames = 2; }
message PodDNSConfig { repeated string nameservers = 1; repeated string searches = 2;
  repeated PodDNSConfigOption options = 3; }
message PodDNSConfigOption { optional string name = 1; ptr string value = 2; }
message PodReadinessGate { optional string conditionType = 1; }
message TopologySpreadConstraint { optional int32 maxSkew = 1; optional string topologyKey = 2;
  optional string whenUnsatisfiable = 3; ptr meta.LabelSelector labelSelector = 4; ptr int32 minDomains = 5;
  ptr string nodeAffinityPolicy = 6; ptr string nodeTaintsPolicy = 7; repeated string matchLabelKeys = 8; }
message PodOS { optional string name = 1; }
message PodSchedulingGate { optional string name = 1; }
message PodResourceClaim { optional string name = 1; ptr string resourceClaimName = 3;
  ptr string resourceClaimTemplateName = 4; }
message PodSchedulingGroup { ptr string podGroupName = 1; }
message EvictionResponder { optional string name = 1; ptr int32 priority = 2; }
message PodStatus { optional int64 observedGeneration = 17; optional string phase = 1;
  repeated PodCondition conditions = 2; optional string message = 3; optional string reason = 4;
  optional string nominatedNodeName = 11; optional string hostIP = 5; repeated HostIP hostIPs = 16;
  optional string podIP = 6; repeated PodIP podIPs = 12; ptr Time startTime = 7;
  repeated ContainerStatus initContainerStatuses = 10; repeated ContainerStatus containerStatuses = 8;
  optional string qosClass = 9; repeated ContainerStatus ephemeralContainerStatuses = 13;
  optional string resize = 14; repeated PodResourceClaimStatus resourceClaimStatuses = 15;
  ptr PodExtendedResourceClaimStatus extendedResourceClaimStatus = 18;
  map<string, Quantity> allocatedResources = 19; ptr ResourceRequirements resources = 20;
  repeated NodeAllocatableResourceClaimStatus nodeAllocatableResourceClaimStatuses = 21;
  repeated PodVolumeHealth volumeHealth = 22; }
message PodCondition { optional string type = 1; optional int64 observedGeneration = 7;
  optional string status = 2; optional Time lastProbeTime = 3; optional Time lastTransitionTime = 4;
  optional string reason = 5; optional string message = 6; }
message HostIP { optional string ip = 1; }
message PodIP { optional string ip = 1; }
message ContainerStatus { optional string name = 1; optional ContainerState state = 2;
  optional ContainerState lastState = 3; optional bool ready = 4; optional int32 restartCount = 5;
  optional string image = 6; optional string imageID = 7; optional string containerID = 8; ptr bool started = 9;
  map<string, Quantity> allocatedResources = 10; ptr ResourceRequirements resources = 11;
  repeated VolumeMountStatus volumeMounts = 12; ptr ContainerUser user = 13;
  repeated ResourceStatus allocatedResourcesStatus = 14; ptr string stopSignal = 15; }
message ContainerState { ptr ContainerStateWaiting waiting = 1; ptr ContainerStateRunning running = 2;
  ptr ContainerStateTerminated terminated = 3; }
message ContainerStateWaiting { optional string reason = 1; optional string message = 2; }
message ContainerStateRunning { optional Time startedAt = 1; }
message ContainerStateTerminated { optional int32 exitCode = 1; optional int32 signal = 2;
  optional string reason = 3; optional string message = 4; optional Time startedAt = 5;
  optional Time finishedAt = 6; optional string containerID = 7; }
message VolumeMountStatus { optional string name = 1; optional string mountPath = 2; optional bool readOnly = 3;
  ptr string recursiveReadOnly = 4; ptr VolumeStatus volumeStatus = 5; }
message VolumeStatus { ptr ImageVolumeStatus image = 1; }
message ImageVolumeStatus { optional string imageRef = 1; }
message ContainerUser { ptr LinuxContainerUser linux = 1; }
message LinuxContainerUser { optional int64 uid = 1; optional int64 gid = 2;
  repeated int64 supplementalGroups = 3; }
message ResourceStatus { optional string name = 1; repeated ResourceHealth resources = 2; }
message ResourceHealth { optional string resourceID = 1; optional string health = 2; ptr string message = 6; }
message PodResourceClaimStatus { optional string name = 1; ptr string resourceClaimName = 2; }
message PodExtendedResourceClaimStatus { repeated ContainerExtendedResourceRequest requestMappings = 1;
  optional string resourceClaimName = 2; }
message ContainerExtendedResourceRequest { optional string containerName = 1; optional string resourceName = 2;
  optional string requestName = 3; }
message NodeAllocatableResourceClaimStatus { optional string resourceClaimName = 1;
  repeated string containers = 2; repeated NodeAllocatableMappedResources mapping = 4;
  repeated NodeAllocatableOverheadResources overhead = 5; }
message NodeAllocatableMappedResources { optional string name = 1; ptr Quantity quantity = 2; }
message NodeAllocatableOverheadResources { optional string name = 1; ptr Quantity perPod = 2;
  ptr Quantity perContainer = 3; }
message PodVolumeHealth { optional string name = 1; repeated VolumeHealthCondition healthConditions = 2;
  optional Time lastTransitionTime = 3; }
message VolumeHealthCondition { optional string status = 1; optional string reason = 2;
  optional string message = 3; }
message Node { optional meta.ObjectMeta metadata = 1; optional NodeSpec spec = 2;
  optional NodeStatus status = 3; }
message NodeSpec { optional string podCIDR = 1; repeated string podCIDRs = 7; optional string providerID = 3;
  optional bool unschedulable = 4; repeated Taint taints = 5; ptr NodeConfigSource configSource = 6;
  optional string externalID = 2; ptr NodePodPreemptionPolicy podPreemptionPolicy = 8; }
message Taint { optional string key = 1; optional string value = 2; optional string effect = 3;
  ptr Time timeAdded = 4; }
message NodeConfigSource { ptr ConfigMapNodeConfigSource configMap = 2; }
message ConfigMapNodeConfigSource { optional string namespace = 1; optional string name = 2;
  optional string uid = 3; optional string resourceVersion = 4; optional string kubeletConfigKey = 5; }
message NodePodPreemptionPolicy { repeated string disableResizePreemption = 1; }
message NodeStatus { map<string, Quantity> capacity = 1; map<string, Quantity> allocatable = 2;
  optional string phase = 3; repeated NodeCondition conditions = 4; repeated NodeAddress addresses = 5;
  optional NodeDaemonEndpoints daemonEndpoints = 6; optional NodeSystemInfo nodeInfo = 7;
  repeated ContainerImage images = 8; repeated string volumesInUse = 9;
  repeated AttachedVolume volumesAttached = 10; ptr NodeConfigStatus config = 11;
  repeated NodeRuntimeHandler runtimeHandlers = 12; ptr NodeFeatures features = 13;
  repeated string declaredFeatures = 14; }
message NodeCondition { optional string type = 1; optional string status = 2;
  optional Time lastHeartbeatTime = 3; optional Time lastTransitionTime = 4; optional string reason = 5;
  optional string message = 6; }
message NodeAddress { optional string type = 1; optional string address = 2; }
message NodeDaemonEndpoints { optional DaemonEndpoint kubeletEndpoint = 1; }
message DaemonEndpoint { optional int32 Port = 1; }
message NodeSystemInfo { optional string machineID = 1; optional string systemUUID = 2;
  optional string bootID = 3; optional string kernelVersion = 4; optional string osImage = 5;
  optional string containerRuntimeVersion = 6; optional string kubeletVersion = 7;
  optional string kubeProxyVersion = 8; optional string operatingSystem = 9; optional string architecture = 10;
  ptr NodeSwapStatus swap = 11; }
message NodeSwapStatus { ptr int64 capacity = 1; }
message ContainerImage { repeated string names = 1; optional int64 sizeBytes = 2; }
message AttachedVolume { optional string name = 1; optional string devicePath = 2; }
message NodeConfigStatus { ptr NodeConfigSource assigned = 1; ptr NodeConfigSource active = 2;
  ptr NodeConfigSource lastKnownGood = 3; optional string error = 4; }
message NodeRuntimeHandler { optional string name = 1; ptr NodeRuntimeHandlerFeatures features = 2; }
message NodeRuntimeHandlerFeatures { ptr bool recursiveReadOnlyMounts = 1; ptr bool userNamespaces = 2; }
message NodeFeatures { ptr bool supplementalGroupsPolicy = 1; }
message Event { optional meta.ObjectMeta metadata = 1; optional ObjectReference involvedObject = 2;
  optional string reason = 3; optional string message = 4; optional EventSource source = 5;
  optional Time firstTimestamp = 6; optional Time lastTimestamp = 7; optional int32 count = 8;
  optional string type = 9; optional MicroTime eventTime = 10; ptr EventSeries series = 11;
  optional string action = 12; ptr ObjectReference related = 13; optional string reportingComponent = 14;
  optional string reportingInstance = 15; }
message ObjectReference { optional string kind = 1; optional string namespace = 2; optional string name = 3;
  optional string uid = 4; optional string apiVersion = 5; optional string resourceVersion = 6;
  optional string fieldPath = 7; }
message EventSource { optional string component = 1; optional string host = 2; }
message EventSeries { optional int32 count = 1; optional MicroTime lastObservedTime = 2; }
message Secret { optional meta.ObjectMeta metadata = 1; ptr bool immutable = 5; map<string, bytes> data = 2;
  map<string, string> stringData = 4; optional string type = 3; }
message ConfigMap { optional meta.ObjectMeta metadata = 1; ptr bool immutable = 4; map<string, string> data = 2;
  map<string, bytes> binaryData = 3; }
message ServiceAccount { optional meta.ObjectMeta metadata = 1; repeated ObjectReference secrets = 2;
  repeated LocalObjectReference imagePullSecrets = 3; ptr bool automountServiceAccountToken = 4; }
message Binding { optional meta.ObjectMeta metadata = 1; optional ObjectReference target = 2; }
message coordination.Lease { optional meta.ObjectMeta metadata = 1; optional coordination.LeaseSpec spec = 2; }
message coordination.LeaseSpec { ptr string holderIdentity = 1; ptr int32 leaseDurationSeconds = 2;
  ptr MicroTime acquireTime = 3; ptr MicroTime renewTime = 4; ptr int32 leaseTransitions = 5;
  ptr string strategy = 6; ptr string preferredHolder = 7; }
message apps.ReplicaSet { optional meta.ObjectMeta metadata = 1; optional apps.ReplicaSetSpec spec = 2;
  optional apps.ReplicaSetStatus status = 3; }
message apps.ReplicaSetSpec { ptr int32 replicas = 1; optional int32 minReadySeconds = 4;
  ptr meta.LabelSelector selector = 2; optional PodTemplateSpec template = 3; }
message PodTemplateSpec { optional meta.ObjectMeta metadata = 1; optional PodSpec spec = 2; }
message apps.ReplicaSetStatus { optional int32 replicas = 1; optional int32 fullyLabeledReplicas = 2;
  optional int32 readyReplicas = 4; optional int32 availableReplicas = 5; ptr int32 terminatingReplicas = 7;
  optional int64 observedGeneration = 3; repeated apps.ReplicaSetCondition conditions = 6; }
message apps.ReplicaSetCondition { optional string type = 1; optional string status = 2;
  optional Time lastTransitionTime = 3; optional string reason = 4; optional string message = 5; }
message apps.Deployment { optional meta.ObjectMeta metadata = 1; optional apps.DeploymentSpec spec = 2;
  optional apps.DeploymentStatus status = 3; }
message apps.DeploymentSpec { ptr int32 replicas = 1; ptr meta.LabelSelector selector = 2;
  optional PodTemplateSpec template = 3; optional apps.DeploymentStrategy strategy = 4;
  optional int32 minReadySeconds = 5; ptr int32 revisionHistoryLimit = 6; optional bool paused = 7;
  ptr int32 progressDeadlineSeconds = 9; }
message apps.DeploymentStrategy { optional string type = 1; ptr apps.RollingUpdateDeployment rollingUpdate = 2; }
message apps.RollingUpdateDeployment { ptr IntOrString maxUnavailable = 1; ptr IntOrString maxSurge = 2; }
message apps.DeploymentStatus { optional int64 observedGeneration = 1; optional int32 replicas = 2;
  optional int32 updatedReplicas = 3; optional int32 readyReplicas = 7; optional int32 availableReplicas = 4;
  optional int32 unavailableReplicas = 5; ptr int32 terminatingReplicas = 9;
  repeated apps.DeploymentCondition conditions = 6; ptr int32 collisionCount = 8; }
message apps.DeploymentCondition { optional string type = 1; optional string status = 2;
  optional Time lastUpdateTime = 6; optional Time lastTransitionTime = 7; optional string reason = 4;
  optional string message = 5; }
message apps.ControllerRevision { optional meta.ObjectMeta metadata = 1; optional RawExtension data = 2;
  optional int64 revision = 3; }
message apps.StatefulSet { optional meta.ObjectMeta metadata = 1; optional apps.StatefulSetSpec spec = 2;
  optional apps.StatefulSetStatus status = 3; }
message apps.StatefulSetSpec { ptr int32 replicas = 1; ptr meta.LabelSelector selector = 2;
  optional PodTemplateSpec template = 3; optional string serviceName = 5;
  optional string podManagementPolicy = 6; optional apps.StatefulSetUpdateStrategy updateStrategy = 7;
  ptr int32 revisionHistoryLimit = 8; optional int32 minReadySeconds = 9;
  ptr apps.StatefulSetPersistentVolumeClaimRetentionPolicy persistentVolumeClaimRetentionPolicy = 10;
  ptr apps.StatefulSetOrdinals ordinals = 11; }
message apps.StatefulSetUpdateStrategy { optional string type = 1;
  ptr apps.RollingUpdateStatefulSetStrategy rollingUpdate = 2; }
message apps.RollingUpdateStatefulSetStrategy { ptr int32 partition = 1; ptr IntOrString maxUnavailable = 2; }
message apps.StatefulSetPersistentVolumeClaimRetentionPolicy { optional string whenDeleted = 1;
  optional string whenScaled = 2; }
message apps.StatefulSetOrdinals { optional int32 start = 1; }
message apps.StatefulSetStatus { optional int64 observedGeneration = 1; optional int32 replicas = 2;
  optional int32 readyReplicas = 3; optional int32 currentReplicas = 4; optional int32 updatedReplicas = 5;
  optional string currentRevision = 6; optional string updateRevision = 7; ptr int32 collisionCount = 9;
  repeated apps.StatefulSetCondition conditions = 10; optional int32 availableReplicas = 11; }
message apps.StatefulSetCondition { optional string type = 1; optional string status = 2;
  optional Time lastTransitionTime = 3; optional string reason = 4; optional string message = 5; }
message policy.Eviction { optional meta.ObjectMeta metadata = 1; ptr meta.DeleteOptions deleteOptions = 2; }
message meta.DeleteOptions { ptr int64 gracePeriodSeconds = 1; ptr meta.Preconditions preconditions = 2;
  ptr bool orphanDependents = 3; ptr string propagationPolicy = 4; repeated string dryRun = 5;
  ptr bool ignoreStoreReadErrorWithClusterBreakingPotential = 6; }
message meta.Preconditions { ptr string uid = 1; ptr string resourceVersion = 2; }
message autoscaling.Scale { optional meta.ObjectMeta metadata = 1; optional autoscaling.ScaleSpec spec = 2;
  optional autoscaling.ScaleStatus status = 3; }
message autoscaling.ScaleSpec { optional int32 replicas = 1; }
message autoscaling.ScaleStatus { optional int32 replicas = 1; optional string selector = 2; }
message Service { optional meta.ObjectMeta metadata = 1; optional ServiceSpec spec = 2;
  optional ServiceStatus status = 3; }
message ServiceSpec { repeated ServicePort ports = 1; map<string, string> selector = 2;
  optional string clusterIP = 3; repeated string clusterIPs = 18; optional string type = 4;
  repeated string externalIPs = 5; optional string sessionAffinity = 7; optional string loadBalancerIP = 8;
  repeated string loadBalancerSourceRanges = 9; optional string externalName = 10;
  optional string externalTrafficPolicy = 11; optional int32 healthCheckNodePort = 12;
  optional bool publishNotReadyAddresses = 13; ptr SessionAffinityConfig sessionAffinityConfig = 14;
  repeated string ipFamilies = 19; ptr string ipFamilyPolicy = 17; ptr bool allocateLoadBalancerNodePorts = 20;
  ptr string loadBalancerClass = 21; ptr string internalTrafficPolicy = 22; ptr string trafficDistribution = 23; }
message ServicePort { optional string name = 1; optional string protocol = 2; ptr string appProtocol = 6;
  optional int32 port = 3; optional IntOrString targetPort = 4; optional int32 nodePort = 5; }
message SessionAffinityConfig { ptr ClientIPConfig clientIP = 1; }
message ClientIPConfig { ptr int32 timeoutSeconds = 1; }
message ServiceStatus { optional LoadBalancerStatus loadBalancer = 1; repeated meta.Condition conditions = 2; }
message LoadBalancerStatus { repeated LoadBalancerIngress ingress = 1; }
message LoadBalancerIngress { optional string ip = 1; optional string hostname = 2; ptr string ipMode = 3;
  repeated PortStatus ports = 4; }
message PortStatus { optional int32 port = 1; optional string protocol = 2; ptr string error = 3; }
message meta.Condition { optional string type = 1; optional string status = 2;
  optional int64 observedGeneration = 3; optional Time lastTransitionTime = 4; optional string reason = 5;
  optional string message = 6; }
message Endpoints { optional meta.ObjectMeta metadata = 1; repeated EndpointSubset subsets = 2; }
message EndpointSubset { repeated EndpointAddress addresses = 1; repeated EndpointAddress notReadyAddresses = 2;
  repeated EndpointPort ports = 3; }
message EndpointAddress { optional string ip = 1; optional string hostname = 3; ptr string nodeName = 4;
  ptr ObjectReference targetRef = 2; }
message EndpointPort { optional string name = 1; optional int32 port = 2; optional string protocol = 3;
  ptr string appProtocol = 4; }
message discovery.EndpointSlice { optional meta.ObjectMeta metadata = 1; optional string addressType = 4;
  repeated discovery.Endpoint endpoints = 2; repeated discovery.EndpointPort ports = 3; }
message discovery.Endpoint { repeated string addresses = 1; optional discovery.EndpointConditions conditions = 2;
  ptr string hostname = 3; ptr ObjectReference targetRef = 4; map<string, string> deprecatedTopology = 5;
  ptr string nodeName = 6; ptr string zone = 7; ptr discovery.EndpointHints hints = 8; }
message discovery.EndpointConditions { ptr bool ready = 1; ptr bool serving = 2; ptr bool terminating = 3; }
message discovery.EndpointHints { repeated discovery.ForZone forZones = 1; repeated discovery.ForNode forNodes = 2; }
message discovery.ForZone { optional string name = 1; }
message discovery.ForNode { optional string name = 1; }
message discovery.EndpointPort { ptr string name = 1; ptr string protocol = 2; ptr int32 port = 3;
  ptr string appProtocol = 4; }
message ReplicationController { optional meta.ObjectMeta metadata = 1; optional ReplicationControllerSpec spec = 2;
  optional ReplicationControllerStatus status = 3; }
message ReplicationControllerSpec { ptr int32 replicas = 1; optional int32 minReadySeconds = 4;
  map<string, string> selector = 2; ptr PodTemplateSpec template = 3; }
message ReplicationControllerStatus { optional int32 replicas = 1; optional int32 fullyLabeledReplicas = 2;
  optional int32 readyReplicas = 4; optional int32 availableReplicas = 5; optional int64 observedGeneration = 3;
  repeated ReplicationControllerCondition conditions = 6; }
message ReplicationControllerCondition { optional string type = 1; optional string status = 2;
  optional Time lastTransitionTime = 3; optional string reason = 4; optional string message = 5; }
message rbac.Role { optional meta.ObjectMeta metadata = 1; repeated rbac.PolicyRule rules = 2; }
message rbac.PolicyRule { repeated string verbs = 1; repeated string apiGroups = 2; repeated string resources = 3;
  repeated string resourceNames = 4; repeated string nonResourceURLs = 5; }
message rbac.ClusterRole { optional meta.ObjectMeta metadata = 1; repeated rbac.PolicyRule rules = 2;
  ptr rbac.AggregationRule aggregationRule = 3; }
message rbac.AggregationRule { repeated meta.LabelSelector clusterRoleSelectors = 1; }
message rbac.RoleBinding { optional meta.ObjectMeta metadata = 1; repeated rbac.Subject subjects = 2;
  optional rbac.RoleRef roleRef = 3; }
message rbac.ClusterRoleBinding { optional meta.ObjectMeta metadata = 1; repeated rbac.Subject subjects = 2;
  optional rbac.RoleRef roleRef = 3; }
message rbac.Subject { optional string kind = 1; optional string apiGroup = 2; optional string name = 3;
  optional string namespace = 4; }
message rbac.RoleRef { optional string apiGroup = 1; optional string kind = 2; optional string name = 3; }
message authz.SelfSubjectAccessReview { optional meta.ObjectMeta metadata = 1;
  optional authz.SelfSubjectAccessReviewSpec spec = 2; optional authz.SubjectAccessReviewStatus status = 3; }
message authz.SelfSubjectAccessReviewSpec { ptr authz.ResourceAttributes resourceAttributes = 1;
  ptr authz.NonResourceAttributes nonResourceAttributes = 2; }
message authz.SubjectAccessReview { optional meta.ObjectMeta metadata = 1;
  optional authz.SubjectAccessReviewSpec spec = 2; optional authz.SubjectAccessReviewStatus status = 3; }
message authz.SubjectAccessReviewSpec { ptr authz.ResourceAttributes resourceAttributes = 1;
  ptr authz.NonResourceAttributes nonResourceAttributes = 2; optional string user = 3; repeated string groups = 4;
  optional string uid = 6; }
message authz.ResourceAttributes { optional string namespace = 1; optional string verb = 2; optional string group = 3;
  optional string version = 4; optional string resource = 5; optional string subresource = 6;
  optional string name = 7; ptr authz.FieldSelectorAttributes fieldSelector = 8;
  ptr authz.LabelSelectorAttributes labelSelector = 9; }
message authz.FieldSelectorAttributes { optional string rawSelector = 1;
  repeated meta.FieldSelectorRequirement requirements = 2; }
message authz.LabelSelectorAttributes { optional string rawSelector = 1;
  repeated meta.LabelSelectorRequirement requirements = 2; }
message meta.FieldSelectorRequirement { optional string key = 1; optional string operator = 2;
  repeated string values = 3; }
message authz.NonResourceAttributes { optional string path = 1; optional string verb = 2; }
message authz.SubjectAccessReviewStatus { optional bool allowed = 1; optional bool denied = 4;
  optional string reason = 2; optional string evaluationError = 3; }
message authz.SelfSubjectRulesReview { optional meta.ObjectMeta metadata = 1;
  optional authz.SelfSubjectRulesReviewSpec spec = 2; optional authz.SubjectRulesReviewStatus status = 3; }
message authz.SelfSubjectRulesReviewSpec { optional string namespace = 1; }
message authz.SubjectRulesReviewStatus { repeated authz.ResourceRule resourceRules = 1;
  repeated authz.NonResourceRule nonResourceRules = 2; optional bool incomplete = 3;
  optional string evaluationError = 4; }
message authz.ResourceRule { repeated string verbs = 1; repeated string apiGroups = 2; repeated string resources = 3;
  repeated string resourceNames = 4; }
message authz.NonResourceRule { repeated string verbs = 1; repeated string nonResourceURLs = 2; }
message authn.SelfSubjectReview { optional meta.ObjectMeta metadata = 1;
  optional authn.SelfSubjectReviewStatus status = 2; }
message authn.SelfSubjectReviewStatus { optional authn.UserInfo userInfo = 1; }
message authn.UserInfo { optional string username = 1; optional string uid = 2; repeated string groups = 3; }
message authn.TokenReview { optional meta.ObjectMeta metadata = 1; optional authn.TokenReviewSpec spec = 2;
  optional authn.TokenReviewStatus status = 3; }
message authn.TokenReviewSpec { optional string token = 1; repeated string audiences = 2; }
message authn.TokenReviewStatus { optional bool authenticated = 1; optional authn.UserInfo user = 2;
  repeated string audiences = 4; optional string error = 3; }
message authn.TokenRequest { optional meta.ObjectMeta metadata = 1; optional authn.TokenRequestSpec spec = 2;
  optional authn.TokenRequestStatus status = 3; }
message authn.TokenRequestSpec { repeated string audiences = 1; ptr int64 expirationSeconds = 4;
  ptr authn.BoundObjectReference boundObjectRef = 3; }
message authn.BoundObjectReference { optional string kind = 1; optional string apiVersion = 2;
  optional string name = 3; optional string uid = 4; }
message batch.Job { optional meta.ObjectMeta metadata = 1; optional batch.JobSpec spec = 2;
  optional batch.JobStatus status = 3; }
message batch.JobSpec { ptr int32 parallelism = 1; ptr int32 completions = 2; ptr int64 activeDeadlineSeconds = 3;
  ptr batch.PodFailurePolicy podFailurePolicy = 11; ptr batch.SuccessPolicy successPolicy = 16;
  ptr int32 backoffLimit = 7; ptr int32 backoffLimitPerIndex = 12; ptr int32 maxFailedIndexes = 13;
  ptr meta.LabelSelector selector = 4; ptr bool manualSelector = 5; optional PodTemplateSpec template = 6;
  ptr int32 ttlSecondsAfterFinished = 8; ptr string completionMode = 9; ptr bool suspend = 10;
  ptr string podReplacementPolicy = 14; ptr string managedBy = 15; }
message batch.PodFailurePolicy { repeated batch.PodFailurePolicyRule rules = 1; }
message batch.PodFailurePolicyRule { optional string action = 1;
  ptr batch.PodFailurePolicyOnExitCodesRequirement onExitCodes = 2;
  repeated batch.PodFailurePolicyOnPodConditionsPattern onPodConditions = 3; }
message batch.PodFailurePolicyOnExitCodesRequirement { ptr string containerName = 1; optional string operator = 2;
  repeated int32 values = 3; }
message batch.PodFailurePolicyOnPodConditionsPattern { optional string type = 1; optional string status = 2; }
message batch.SuccessPolicy { repeated batch.SuccessPolicyRule rules = 1; }
message batch.SuccessPolicyRule { ptr string succeededIndexes = 1; ptr int32 succeededCount = 2; }
message batch.JobStatus { repeated batch.JobCondition conditions = 1; ptr Time startTime = 2;
  ptr Time completionTime = 3; optional int32 active = 4; optional int32 succeeded = 5; optional int32 failed = 6;
  ptr int32 terminating = 11; optional string completedIndexes = 7; ptr string failedIndexes = 10;
  ptr batch.UncountedTerminatedPods uncountedTerminatedPods = 8; ptr int32 ready = 9; }
message batch.JobCondition { optional string type = 1; optional string status = 2; optional Time lastProbeTime = 3;
  optional Time lastTransitionTime = 4; optional string reason = 5; optional string message = 6; }
message batch.UncountedTerminatedPods { repeated string succeeded = 1; repeated string failed = 2; }
message batch.CronJob { optional meta.ObjectMeta metadata = 1; optional batch.CronJobSpec spec = 2;
  optional batch.CronJobStatus status = 3; }
message batch.CronJobSpec { optional string schedule = 1; ptr string timeZone = 8;
  ptr int64 startingDeadlineSeconds = 2; optional string concurrencyPolicy = 3; ptr bool suspend = 4;
  optional batch.JobTemplateSpec jobTemplate = 5; ptr int32 successfulJobsHistoryLimit = 6;
  ptr int32 failedJobsHistoryLimit = 7; }
message batch.JobTemplateSpec { optional meta.ObjectMeta metadata = 1; optional batch.JobSpec spec = 2; }
message batch.CronJobStatus { repeated ObjectReference active = 1; ptr Time lastScheduleTime = 4;
  ptr Time lastSuccessfulTime = 5; }
message authn.TokenRequestStatus { optional string token = 1; optional Time expirationTimestamp = 2; }
"""

# apimachinery types with their own JSON form (meta/v1, api/resource, util/intstr, runtime .proto).
SPECIAL = """
message Time { optional int64 seconds = 1; optional int32 nanos = 2; }
message MicroTime { optional int64 seconds = 1; optional int32 nanos = 2; }
message Quantity { optional string string = 1; }
message IntOrString { optional int64 type = 1; optional int32 intVal = 2; optional string strVal = 3; }
message RawExtension { optional bytes raw = 1; }
message FieldsV1 { optional bytes Raw = 1; }
message runtime.TypeMeta { optional string apiVersion = 1; optional string kind = 2; }
message runtime.Unknown { optional runtime.TypeMeta typeMeta = 1; optional bytes raw = 2;
  optional string contentEncoding = 3; optional string contentType = 4; }
"""

ROOTS = {"Namespace": "v1", "Pod": "v1", "Node": "v1", "Event": "v1", "Secret": "v1", "ConfigMap": "v1",
         "ServiceAccount": "v1", "Binding": "v1", "coordination.Lease": "coordination.k8s.io/v1",
         "apps.ReplicaSet": "apps/v1", "apps.Deployment": "apps/v1", "apps.ControllerRevision": "apps/v1",
         "apps.StatefulSet": "apps/v1",
         "batch.Job": "batch/v1", "batch.CronJob": "batch/v1",
         "policy.Eviction": "policy/v1", "autoscaling.Scale": "autoscaling/v1", "Service": "v1",
         "Endpoints": "v1", "discovery.EndpointSlice": "discovery.k8s.io/v1", "ReplicationController": "v1",
         "rbac.Role": "rbac.authorization.k8s.io/v1", "rbac.ClusterRole": "rbac.authorization.k8s.io/v1",
         "rbac.RoleBinding": "rbac.authorization.k8s.io/v1", "rbac.ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
         "authz.SelfSubjectAccessReview": "authorization.k8s.io/v1",
         "authz.SubjectAccessReview": "authorization.k8s.io/v1",
         "authz.SelfSubjectRulesReview": "authorization.k8s.io/v1",
         "authn.SelfSubjectReview": "authentication.k8s.io/v1", "authn.TokenReview": "authentication.k8s.io/v1",
         "authn.TokenRequest": "authentication.k8s.io/v1"}
SCALARS = {"string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
           "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
           "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
           "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
           "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64}
SPECIAL_TYPES = {"Time", "MicroTime", "Quantity", "IntOrString", "RawExtension", "FieldsV1"}


@dataclass(frozen=True)
class Spec:
    label: str  # optional | ptr | inline | repeated | map
    type: str
    name: str
    number: int


_FIELD = re.compile(r"(?:map<string, (?P<value>\S+)>|(?P<label>\w+) (?P<type>\S+)) (?P<name>\w+) = (?P<number>\d+);")


def parse(text: str) -> dict[str, list[Spec]]:
    messages: dict[str, list[Spec]] = {}
    for m in re.finditer(r"message (\S+) \{(.*?)\}", text, re.S):
        messages[m.group(1)] = [
            Spec("map", f["value"], f["name"], int(f["number"])) if f["value"]
            else Spec(f["label"], f["type"], f["name"], int(f["number"]))
            for f in _FIELD.finditer(m.group(2))
        ]
    return messages


MESSAGES = parse(UPSTREAM) | parse(SPECIAL)


def _msg_name(name: str) -> str:
    return name.replace(".", "_")


def _build_pool() -> dict[str, type[Message]]:
    fdp = descriptor_pb2.FileDescriptorProto(name="k8s_upstream_test.proto", package="t", syntax="proto2")
    for name, fields in MESSAGES.items():
        msg = fdp.message_type.add(name=_msg_name(name))
        for f in fields:
            fd = msg.field.add(name=f.name, number=f.number)
            fd.label = fd.LABEL_REPEATED if f.label in ("repeated", "map") else fd.LABEL_OPTIONAL
            if f.label == "map":
                entry = msg.nested_type.add(name=f.name[0].upper() + f.name[1:] + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, label=fd.LABEL_OPTIONAL, type=fd.TYPE_STRING)
                value = entry.field.add(name="value", number=2, label=fd.LABEL_OPTIONAL)
                _set_type(value, f.type)
                fd.type = fd.TYPE_MESSAGE
                fd.type_name = f".t.{_msg_name(name)}.{entry.name}"
            else:
                _set_type(fd, f.type)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t.{_msg_name(name)}"))
            for name in MESSAGES}


def _set_type(fd: descriptor_pb2.FieldDescriptorProto, typ: str) -> None:
    if typ in SCALARS:
        fd.type = SCALARS[typ]  # type: ignore[assignment]
    else:
        fd.type = fd.TYPE_MESSAGE
        fd.type_name = f".t.{_msg_name(typ)}"


CLASSES = _build_pool()


# ---- the JSON Go would write for an object -------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _rfc3339(seconds: int, micros: int | None) -> str | None:
    t = _EPOCH + dt.timedelta(seconds=seconds, microseconds=micros or 0)
    if t == dt.datetime(1, 1, 1, tzinfo=dt.UTC):
        return None  # Go's zero time: null
    frac = f".{t.microsecond:06d}" if micros is not None else ""
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{frac}Z"


def special_json(typ: str, m: Any) -> Any:
    if typ in ("Time", "MicroTime"):
        if not m.SerializeToString():
            return None  # Go's zero time marshals to nothing, and unmarshals from nothing
        micros = math.trunc(m.nanos / 1000) if typ == "MicroTime" else None  # Time drops the fraction
        return _rfc3339(m.seconds, micros)
    if typ == "Quantity":
        return m.string if m.HasField("string") else "0"
    if typ == "IntOrString":
        return m.strVal if m.type == 1 else m.intVal
    raw = m.raw if typ == "RawExtension" else m.Raw
    return json.loads(raw) if raw else None


def scalar_json(typ: str, v: Any) -> Any:
    return base64.b64encode(v).decode() if typ == "bytes" else v


def value_json(typ: str, v: Any) -> Any:
    if typ in SCALARS:
        return scalar_json(typ, v)
    if typ in SPECIAL_TYPES:
        return special_json(typ, v)
    return to_json(typ, v)


def to_json(name: str, m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in MESSAGES[name]:
        v = getattr(m, f.name)
        if f.label == "map":
            if len(v):
                out[f.name] = {k: value_json(f.type, v[k]) for k in v}
        elif f.label == "repeated":
            if len(v):
                out[f.name] = [value_json(f.type, x) for x in v]
        elif not m.HasField(f.name):
            continue
        elif f.label == "inline":
            out.update(to_json(f.type, v))
        elif f.type in SCALARS:
            if f.label == "ptr" or v not in ("", 0, False, b""):
                out[f.name] = scalar_json(f.type, v)
        else:
            j = value_json(f.type, v)
            if j is not None:
                out[f.name] = j
    return out


def envelope(api_version: str, kind: str, raw: bytes, **extra: str) -> bytes:
    unknown = CLASSES["runtime.Unknown"]()
    unknown.typeMeta.apiVersion = api_version
    unknown.typeMeta.kind = kind
    unknown.raw = raw
    for k, v in extra.items():
        setattr(unknown, k, v)
    return MAGIC + bytes(unknown.SerializeToString())


def roundtrip(root: str, m: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what podfleet decodes, what Go's JSON would be) for a root object."""
    api_version, kind = ROOTS[root], root.rsplit(".", 1)[-1]
    got = decode(envelope(api_version, kind, m.SerializeToString()))
    return got, {"apiVersion": api_version, "kind": kind, **to_json(root, m)}


# ---- random objects ------------------------------------------------------------------------------

_texts = st.one_of(st.text(max_size=20), st.text(min_size=21, max_size=300))
_int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 127, 128, 2**31 - 1, -(2**31)]))
_int64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 2**32]))
_scalars: dict[str, st.SearchStrategy[Any]] = {
    "string": _texts, "bytes": st.binary(max_size=40), "bool": st.booleans(), "int32": _int32, "int64": _int64}
# Years 2..9998, so that MicroTime's nanos cannot carry a time outside what JSON can write.
_seconds = st.integers(-62104060800, 253370764800)
_quantities = st.sampled_from(["0", "1", "100m", "1Gi", "2.5", "1e3", "64Mi", "500u", "12345678901234"])
_json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
                            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                            max_leaves=6)


def fill_special(draw: Any, typ: str, m: Any) -> None:
    if typ in ("Time", "MicroTime"):
        if draw(st.booleans()):  # else left empty: Go's zero time
            m.seconds = draw(_seconds)
            m.nanos = draw(st.one_of(st.integers(0, 999_999_999), st.integers(-(2**31), 2**31 - 1)))
    elif typ == "Quantity":
        m.string = draw(_quantities)
    elif typ == "IntOrString":
        if draw(st.booleans()):
            m.type, m.strVal = 1, draw(_texts)
        else:
            m.type, m.intVal = 0, draw(_int32)
            if draw(st.booleans()):
                m.ClearField("type")  # Go always sends it; absent means Int as well
    elif draw(st.booleans()):
        raw = json.dumps(draw(st.dictionaries(st.text(max_size=8), _json_values, max_size=4))).encode()
        setattr(m, "raw" if typ == "RawExtension" else "Raw", raw)


def fill(draw: Any, name: str, m: Any, depth: int) -> None:
    """Sets a random few fields of `m` (more near the root), zeros included: Go sends those too."""
    fields = MESSAGES[name]
    chosen = draw(st.lists(st.sampled_from(fields), max_size=6 if depth < 3 else 3, unique=True))
    for f in chosen:
        if f.type not in SCALARS and depth >= 7:
            continue
        if f.label == "map":
            target = getattr(m, f.name)
            for key in draw(st.lists(_texts, max_size=4, unique=True)):
                if f.type in SCALARS:
                    target[key] = draw(_scalars[f.type])
                else:
                    fill_value(draw, f.type, target[key], depth + 1)
        elif f.label == "repeated":
            target = getattr(m, f.name)
            for _ in range(draw(st.integers(0, 3))):
                if f.type in SCALARS:
                    target.append(draw(_scalars[f.type]))
                else:
                    fill_value(draw, f.type, target.add(), depth + 1)
        elif f.type in SCALARS:
            setattr(m, f.name, draw(_scalars[f.type]))
        else:
            sub = getattr(m, f.name)
            sub.SetInParent()  # a set message, even if nothing inside it is
            fill_value(draw, f.type, sub, depth + 1)


def fill_value(draw: Any, typ: str, m: Any, depth: int) -> None:
    if typ in SPECIAL_TYPES:
        fill_special(draw, typ, m)
    else:
        fill(draw, typ, m, depth)


@st.composite
def objects(draw: Any) -> tuple[str, Any]:
    root = draw(st.sampled_from(sorted(ROOTS)))
    m = CLASSES[root]()
    fill(draw, root, m, 0)
    return root, m


# ---- properties ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(objects())
def test_decodes_what_a_real_encoder_wrote(obj: tuple[str, Any]) -> None:
    got, want = roundtrip(*obj)
    assert got == want


def _paths_to_every_message() -> dict[str, list[tuple[str, Spec]]]:
    """For each message, a chain of fields from some root kind down to it (breadth first)."""
    paths: dict[str, list[tuple[str, Spec]]] = {root: [] for root in ROOTS}
    queue = deque(ROOTS)
    while queue:
        name = queue.popleft()
        for f in MESSAGES[name]:
            if f.type in MESSAGES and f.type not in paths and f.type not in SPECIAL_TYPES:
                paths[f.type] = [*paths[name], (name, f)]
                queue.append(f.type)
    return paths


def _sample(typ: str, zero: bool) -> Any:
    if zero:  # what Go sends for an empty non-pointer field, or a pointer set to the zero value
        return {"string": "", "bytes": b"", "bool": False, "int32": 0, "int64": 0}[typ]
    return {"string": "héllo wörld", "bytes": b"\x00\xffbin", "bool": True, "int32": -7, "int64": 2**40}[typ]


def test_every_upstream_field_decodes() -> None:
    """Each field of each message, set alone (to a value, then to zero) at the end of a path from a root
    kind: checks every row of the decoder's tables, its number, name, type and pointer-ness."""
    paths = _paths_to_every_message()
    assert set(paths) == set(MESSAGES) - SPECIAL_TYPES - {"runtime.TypeMeta", "runtime.Unknown"}
    checked, failures = 0, []
    for name, chain in paths.items():
        root = chain[0][0] if chain else name
        for f in MESSAGES[name]:
            for zero in (False, True):
                m = CLASSES[root]()
                target = m
                for _parent, step in chain:
                    target = getattr(target, step.name)
                    target = target.add() if step.label == "repeated" else target
                    target.SetInParent()
                _set_sample(target, f, zero)
                got, want = roundtrip(root, m)
                checked += 1
                if got != want:
                    failures.append(f"{name}.{f.name} (zero={zero}): got {got}, want {want}")
    assert not failures, "\n".join(failures)
    assert checked > 1600


def _set_sample(target: Any, f: Spec, zero: bool) -> None:
    if f.label == "map":
        v = getattr(target, f.name)
        if f.type in SCALARS:
            v["k"] = _sample(f.type, zero)
        else:
            _set_special_sample(f.type, v["k"])
    elif f.label == "repeated":
        v = getattr(target, f.name)
        if f.type in SCALARS:
            v.extend([_sample(f.type, zero), _sample(f.type, False)])
        elif f.type in SPECIAL_TYPES:
            _set_special_sample(f.type, v.add())
        else:
            v.add()
    elif f.type in SCALARS:
        setattr(target, f.name, _sample(f.type, zero))
    else:
        sub = getattr(target, f.name)
        sub.SetInParent()
        if f.type in SPECIAL_TYPES and not zero:
            _set_special_sample(f.type, sub)


def _set_special_sample(typ: str, m: Any) -> None:
    if typ in ("Time", "MicroTime"):
        m.seconds, m.nanos = 1_700_000_000, 123_456_789
    elif typ == "Quantity":
        m.string = "250m"
    elif typ == "IntOrString":
        m.type, m.strVal = 1, "http"
    else:
        setattr(m, "raw" if typ == "RawExtension" else "Raw", b'{"a":[1,"x"]}')


# ---- malformed and unknown input -----------------------------------------------------------------


def _no_server_error(body: bytes) -> None:
    try:
        decode(body)
    except APIError as e:
        assert e.code in (400, 415), e


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_client_error(data: bytes) -> None:
    _no_server_error(MAGIC + data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(ROOTS)), st.binary(max_size=200))
def test_arbitrary_object_bytes_are_a_client_error(root: str, data: bytes) -> None:
    _no_server_error(envelope(ROOTS[root], root.rsplit(".", 1)[-1], data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(objects(), st.data())
def test_damaged_objects_are_a_client_error(obj: tuple[str, Any], data: st.DataObject) -> None:
    root, m = obj
    raw = bytearray(m.SerializeToString())
    if raw and data.draw(st.booleans()):
        del raw[data.draw(st.integers(0, len(raw) - 1)):]  # truncated anywhere
    for _ in range(data.draw(st.integers(0, 3))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _no_server_error(envelope(ROOTS[root], root.rsplit(".", 1)[-1], bytes(raw)))


# Hand-made wire bytes, in the order and with the empty fields Go's marshallers emit.


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(data)) + data


def entry(num: int, key: str, value: bytes | str) -> bytes:
    return field(num, field(1, key) + field(2, value))


def go_meta(name: str, namespace: str = "") -> bytes:
    """ObjectMeta as Go marshals a fresh one: every non-pointer field, empty ones included."""
    return (field(1, name) + field(2, "") + field(3, namespace) + field(4, "") + field(5, "") + field(6, "")
            + field(7, 0) + field(8, b""))


def raw_envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + field(1, field(1, api_version) + field(2, kind)) + field(2, raw) + field(3, "") + field(4, "")


@pytest.mark.parametrize("name", ["abc", "abcdef", "a", "ab", "abcd", "abcde", "x" * 20])
def test_short_strings_are_strings(name: str) -> None:
    """Regression: 3- and 6-byte strings parse as nested messages; they must not be decoded as such."""
    cm = decode(raw_envelope("v1", "ConfigMap", field(1, go_meta(name, "default")) + entry(2, "a", "1")
                             + entry(2, name, name)))
    assert cm == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                  "data": {"a": "1", name: name}}
    ns = decode(raw_envelope("v1", "Namespace", field(1, go_meta(name)) + field(2, b"") + field(3, field(1, ""))))
    assert ns == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {}, "status": {}}


def test_kubectl_create_serviceaccount() -> None:
    sa = decode(raw_envelope("v1", "ServiceAccount", field(1, go_meta("x", "default"))))
    assert sa == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "default"}}


def test_kubectl_create_secret() -> None:
    body = field(1, go_meta("tls", "default")) + entry(2, "tls.crt", b"\x00\xff") + entry(2, "tls.key", b"") \
        + field(3, "kubernetes.io/tls")
    assert decode(raw_envelope("v1", "Secret", body)) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "default"},
        "data": {"tls.crt": "AP8=", "tls.key": ""}, "type": "kubernetes.io/tls"}


def test_kubectl_create_clusterrole_and_rolebinding() -> None:
    """`kubectl create clusterrole --verb=get --resource=pods --resource-name=a`, then one with an
    aggregation rule (no rules: Go marshals nothing for them), then a rolebinding to it."""
    rule = field(1, "get") + field(2, "") + field(3, "pods") + field(4, "a")
    role = decode(raw_envelope("rbac.authorization.k8s.io/v1", "ClusterRole", field(1, go_meta("system:r"))
                               + field(2, rule)))
    assert role == {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "system:r"},
                    "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}]}
    agg = decode(raw_envelope("rbac.authorization.k8s.io/v1", "ClusterRole", field(1, go_meta("agg"))
                              + field(3, field(1, entry(1, "rbac.example.com/aggregate", "true")))))
    assert agg["aggregationRule"] == {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]}
    subject = field(1, "ServiceAccount") + field(2, "") + field(3, "sa") + field(4, "ns")
    ref = field(1, "rbac.authorization.k8s.io") + field(2, "ClusterRole") + field(3, "agg")
    rb = decode(raw_envelope("rbac.authorization.k8s.io/v1", "RoleBinding", field(1, go_meta("b", "default"))
                             + field(2, subject) + field(3, ref)))
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "agg"}


def test_deployment_as_kubectl_sends_it() -> None:
    meta = go_meta("web", "default") + entry(11, "app", "web")
    port = field(1, "") + field(2, 0) + field(3, 8080) + field(4, "TCP") + field(5, "")
    container = field(1, "busybox") + field(2, "busybox") + field(3, "sleep") + field(3, "10") + field(5, "") \
        + field(6, port) + field(8, b"") + field(13, "") + field(14, "") + field(16, 0) + field(17, 0) \
        + field(18, 0) + field(20, "")
    pod_spec = field(2, container) + field(3, "") + field(6, "") + field(8, "") + field(9, "") + field(10, "") \
        + field(11, 0) + field(12, 0) + field(13, 0) + field(16, "") + field(17, "") + field(19, "") + field(24, "")
    template = field(1, go_meta("") + entry(11, "app", "web")) + field(2, pod_spec)
    spec = field(1, 3) + field(2, entry(1, "app", "web")) + field(3, template) + field(4, field(1, "")) \
        + field(5, 0) + field(7, 0)
    obj = decode(raw_envelope("apps/v1", "Deployment", field(1, meta) + field(2, spec) + field(3, field(1, 0))))
    assert obj == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "busybox", "image": "busybox",
                                                       "command": ["sleep", "10"],
                                                       "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                                       "resources": {}}]}},
                 "strategy": {}},
        "status": {}}


def test_pointer_zero_is_kept_and_packed_numbers_are_read() -> None:
    spec = field(1, 0) + field(2, b"") + field(3, field(2, field(2, field(1, "c") + field(2, "i"))))
    dep = decode(raw_envelope("apps/v1", "Deployment", field(2, spec)))
    assert dep["spec"]["replicas"] == 0  # *int32 set to 0: scale to zero, not "default to 1"
    groups = varint(1) + varint(2**40) + varint(-3)
    pod_spec = field(2, field(1, "c")) + field(14, field(4, groups) + varint(4 << 3) + varint(5))
    pod = decode(raw_envelope("v1", "Pod", field(2, pod_spec)))
    assert pod["spec"]["securityContext"]["supplementalGroups"] == [1, 2**40, -3, 5]


def test_unknown_fields() -> None:
    base = field(1, go_meta("p"))
    # A newer client's non-pointer field, sent empty as Go does: no data, nothing lost.
    for empty in (field(99, ""), field(99, 0), varint(99 << 3 | 1) + bytes(8), varint(99 << 3 | 5) + bytes(4)):
        assert decode(raw_envelope("v1", "Pod", base + field(2, field(2, field(1, "c")) + empty)))["spec"] == {
            "containers": [{"name": "c"}]}
    for data in (field(99, "something"), field(99, 7), field(99, b"\x08\x00"), field(99, "") + field(99, "")):
        with pytest.raises(UnsupportedMediaType, match=r"#99 of spec\b"):
            decode(raw_envelope("v1", "Pod", base + field(2, field(2, field(1, "c")) + data)))
    with pytest.raises(UnsupportedMediaType, match=r"#77 of spec.containers\[0\]"):
        decode(raw_envelope("v1", "Pod", base + field(2, field(2, field(1, "c") + field(77, "x")))))
    with pytest.raises(UnsupportedMediaType, match="batch/v1beta1 CronJob"):
        decode(raw_envelope("batch/v1beta1", "CronJob", b""))


MALFORMED = {
    "truncated varint": field(1, go_meta("p")) + bytes([0x10, 0xFF]),
    "truncated key": field(1, go_meta("p")) + bytes([0x80]),
    "truncated fixed64": field(1, go_meta("p")) + bytes([0x09, 1, 2, 3]),
    "truncated fixed32": field(1, go_meta("p")) + bytes([0x0D, 1, 2]),
    "truncated length": field(1, go_meta("p"))[:-3],
    "length past the end": bytes([0x0A, 0x7F]) + field(1, "p"),
    "group wire type": bytes([0x0B]),
    "wire type 7": bytes([0x0F]),
    "field number 0": bytes([0x02, 0x00]),
    "varint too long": bytes([0x18]) + bytes([0xFF] * 11) + b"\x01",
    "invalid UTF-8 string": field(1, field(1, b"\xff\xfe")),
    "invalid UTF-8 map key": field(1, field(11, field(1, b"\xc3") + field(2, "v"))),
    "string sent as varint": field(1, field(1, 5)),
    "message sent as varint": field(1, 5),
    "int sent as bytes": field(2, field(4, "x")),
    "time out of range": field(1, field(9, field(1, 2**62))),
}
POD, DEPLOYMENT = ("v1", "Pod"), ("apps/v1", "Deployment")
MALFORMED_OBJECTS = [(POD, raw, name) for name, raw in MALFORMED.items()] + [
    (DEPLOYMENT, field(2, field(4, field(2, field(1, field(1, 7))))), "bad IntOrString type"),
    (DEPLOYMENT, field(2, field(1, b"")), "pointer int sent as bytes"),
    (("apps/v1", "ControllerRevision"), field(2, field(1, b"{not json")), "RawExtension not JSON"),
    (("v1", "Secret"), field(2, field(1, "k") + field(2, 5)), "map value of the wrong wire type"),
]


@pytest.mark.parametrize(("kind", "raw"), [c[:2] for c in MALFORMED_OBJECTS], ids=[c[2] for c in MALFORMED_OBJECTS])
def test_malformed_object_is_bad_request(kind: tuple[str, str], raw: bytes) -> None:
    with pytest.raises(BadRequest):
        decode(raw_envelope(*kind, raw))


MALFORMED_ENVELOPES = {
    "no magic": field(1, field(1, "v1")),
    "only magic": MAGIC,
    "truncated envelope": MAGIC + field(1, field(1, "v1") + field(2, "Pod"))[:-2],
    "typeMeta not a message": MAGIC + field(1, 5),
    "invalid UTF-8 kind": MAGIC + field(1, field(1, "v1") + field(2, b"P\xffd")),
    "no kind": MAGIC + field(1, field(1, "v1")) + field(2, b""),
    "raw sent as varint": MAGIC + field(1, field(1, "v1") + field(2, "Pod")) + field(2, 3),
}


@pytest.mark.parametrize("body", MALFORMED_ENVELOPES.values(), ids=MALFORMED_ENVELOPES.keys())
def test_malformed_envelope_is_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode(body)


def test_envelope_encodings_podfleet_cannot_read() -> None:
    with pytest.raises(UnsupportedMediaType, match="gzip"):
        decode(envelope("v1", "Pod", b"", contentEncoding="gzip"))
    with pytest.raises(UnsupportedMediaType, match="json"):
        decode(envelope("v1", "Pod", b"{}", contentType="application/json"))


def _revision(raw: bytes) -> bytes:
    """A ControllerRevision whose data (a RawExtension) holds `raw`."""
    return raw_envelope("apps/v1", "ControllerRevision", field(1, go_meta("r", "default")) + field(2, field(1, raw)))


@pytest.mark.parametrize(("raw", "message"), [
    (b"NaN", "data does not hold JSON: invalid character 'N' looking for beginning of value"),
    (b"{", "data does not hold JSON: unexpected end of JSON input"),
    (b'{"a": 1e400}', "data does not hold JSON: json: cannot unmarshal number 1e400"),
    (b"[" * 5000 + b"]" * 5000, "data does not hold JSON: exceeded max depth"),
    # within the limit by itself, one level past it where it sits in the object
    (b"[" * 100 + b"]" * 100, "invalid protobuf: exceeded max depth: objects and arrays may nest at most 100"),
])
def test_raw_extension_json_is_decoded_within_the_limits_of_every_body(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode(_revision(raw))
    assert message in info.value.message, info.value.message
    assert "Expecting" not in info.value.message and "char " not in info.value.message  # not Python's words
    assert decode(_revision(b'{"a": [1, "\\ud800"]}'))["data"] == {"a": [1, "\ufffd"]}
