"""Object detection: boxes and IoU, non-maximum suppression, the YOLO head, mAP, YOLO labels, synthetic data."""
from cnnkit.detection.boxes import iou, scale_boxes, xywh_to_xyxy, xyxy_to_xywh, yolo_boxes_to_corners
from cnnkit.detection.labels import YoloFolder, read_yolo_labels, write_yolo_labels
from cnnkit.detection.metrics import coco_map, mean_average_precision
from cnnkit.detection.nms import batched_nms, nms
from cnnkit.detection.synthetic import CLASS_NAMES, make_shapes_dataset
from cnnkit.detection.yolo import (decode, encode_targets, kmeans_anchors, postprocess, yolo_eval, yolo_filter_boxes,
                                   yolo_loss, yolo_non_max_suppression)

__all__ = [
    "iou", "xywh_to_xyxy", "xyxy_to_xywh", "yolo_boxes_to_corners", "scale_boxes",
    "nms", "batched_nms",
    "decode", "encode_targets", "yolo_loss", "kmeans_anchors", "postprocess",
    "yolo_filter_boxes", "yolo_non_max_suppression", "yolo_eval",
    "mean_average_precision", "coco_map",
    "read_yolo_labels", "write_yolo_labels", "YoloFolder",
    "make_shapes_dataset", "CLASS_NAMES",
]
