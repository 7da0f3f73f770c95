"""Object detection: boxes and IoU, non-maximum suppression, the YOLO head, mAP, YOLO labels, synthetic data."""
from cnnkit.detection.boxes import iou, xywh_to_xyxy, xyxy_to_xywh
from cnnkit.detection.course import (scale_boxes, yolo_boxes_to_corners, yolo_eval, yolo_filter_boxes,
                                     yolo_non_max_suppression)
from cnnkit.detection.labels import YoloFolder, read_yolo_labels, write_yolo_labels
from cnnkit.detection.loss import yolo_loss
from cnnkit.detection.metrics import coco_map, mean_average_precision
from cnnkit.detection.nms import batched_nms, nms
from cnnkit.detection.synthetic import CLASS_NAMES, make_shapes_dataset
from cnnkit.detection.targets import encode_targets, kmeans_anchors
from cnnkit.detection.yolo import decode, postprocess

__all__ = [
    "iou", "xywh_to_xyxy", "xyxy_to_xywh", "yolo_boxes_to_corners", "scale_boxes",
    "nms", "batched_nms",
    "decode", "encode_targets", "yolo_loss", "kmeans_anchors", "postprocess",
    "yolo_filter_boxes", "yolo_non_max_suppression", "yolo_eval",
    "mean_average_precision", "coco_map",
    "read_yolo_labels", "write_yolo_labels", "YoloFolder",
    "make_shapes_dataset", "CLASS_NAMES",
]
