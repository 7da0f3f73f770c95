"""Faces: detection (MTCNN, face-api's tiny YOLO, dlib's HOG and CNN detectors), dlib's 5 and 68 landmarks, alignment and face ResNet, verification, a face database,
triplet loss, mining and a Siamese embedding trained from scratch, search (``FaceIndex``) and clustering
(``cluster_faces``) of a face index. The networks live in the zoo (:mod:`cnnkit.models`)."""
from cnnkit.face.align import align_face, extract_chip, face_chip_details
from cnnkit.face.cluster import chinese_whispers, cluster_faces
from cnnkit.face.database import FaceDatabase
from cnnkit.face.detect import DETECTORS, detect_faces
from cnnkit.face.embed import detect_face, embed, embed_chip, face_distance, verify
from cnnkit.face.index import FaceIndex
from cnnkit.face.locate import find_faces
from cnnkit.face.mtcnn import MTCNN
from cnnkit.face.siamese import train_att
from cnnkit.face.tiny_yolo import TinyYoloFaceDetector, detect_faces_tiny_yolo
from cnnkit.face.triplet import (batch_all_triplet_loss, batch_hard_triplet_loss, pairwise_squared_distances,
                                 semi_hard_triplet_loss, triplet_loss)
from cnnkit.face.verification import PairVerifier
from cnnkit.models.dlib_resnet import DlibFaceResNet
from cnnkit.models.face_embedding import EmbeddingNet

__all__ = ["MTCNN", "TinyYoloFaceDetector", "detect_faces", "detect_faces_tiny_yolo", "DETECTORS", "detect_face", "find_faces",
           "DlibFaceResNet", "align_face", "face_chip_details",
           "extract_chip", "embed", "embed_chip", "face_distance", "verify", "FaceDatabase", "triplet_loss",
           "pairwise_squared_distances", "batch_all_triplet_loss", "batch_hard_triplet_loss", "semi_hard_triplet_loss",
           "EmbeddingNet", "train_att", "PairVerifier", "FaceIndex", "cluster_faces", "chinese_whispers"]
