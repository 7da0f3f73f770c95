"""Face recognition on the AT&T faces with pretrained networks: MTCNN, dlib's ResNet, then one-shot and pairs.

All 40 people, 10 grey 92x112 images each (shipped with cnnkit). Every
image is made RGB (the grey value in the three channels), MTCNN looks for the face
(``--min-size``, 20 pixels by default), and dlib's ResNet embeds the chip aligned on
MTCNN's landmarks. Where MTCNN finds nothing, the face is aligned on *fixed*
landmarks: the mean of the landmarks found in the other images (the AT&T faces are
centred and frontal), a landmark-free alignment. Then:

- one-shot identification: one enrolled image per person (each of the ten choices
  in turn, averaged), the other nine named by their nearest enrolled descriptor;
- verification by dlib's fixed 0.6 threshold, by the best threshold on the training
  people, and by logistic regression on |f1 - f2| and on the chi-square form, trained
  on the pairs of 30 people and measured on the pairs of the 10 others.

    python examples/face_recognition_att.py

Needs ``cnnkit weights fetch mtcnn`` and ``cnnkit weights fetch dlib-face-resnet``.
"""
import argparse
import time

import numpy as np

from cnnkit.data import load_att_faces, split_people
from cnnkit.face.align import align_face
from cnnkit.face.embed import default_network
from cnnkit.face.evaluation import (best_threshold, one_shot_identification_accuracy, pair_distances,
                                    verification_accuracy)
from cnnkit.face.mtcnn import default_detector, dlib_landmarks
from cnnkit.face.verification import PairVerifier


def detect_landmarks(images, min_size):
    """MTCNN's landmarks (N, 5, 2) of the largest face in each RGB image; NaN where none is found."""
    detector = default_detector()
    landmarks = np.full((len(images), 5, 2), np.nan)
    for k, image in enumerate(images):
        faces = detector.detect(image, min_size=min_size)
        if faces:
            largest = max(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
            landmarks[k] = largest["landmarks"]
    return landmarks


def pairs_of(embeddings, labels, people):
    """Every pair of images of ``people``: first descriptors, second descriptors, same-person flags."""
    members = np.flatnonzero(np.isin(labels, people))
    i, j = np.triu_indices(len(members), k=1)
    return embeddings[members[i]], embeddings[members[j]], labels[members[i]] == labels[members[j]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="an att_faces folder (s1 ... s40); default: cnnkit's copy")
    parser.add_argument("--min-size", type=float, default=20, help="MTCNN's smallest face, pixels")
    args = parser.parse_args()

    faces = load_att_faces(args.root)
    grey, labels = faces.images, faces.labels
    images = np.repeat(np.round(grey * 255).astype(np.uint8), 3, axis=-1)  # (400, 112, 92, 3)
    start = time.perf_counter()
    landmarks = detect_landmarks(images, args.min_size)
    found = ~np.isnan(landmarks).any(axis=(1, 2))
    print(f"MTCNN found a face in {found.sum()}/{len(images)} images ({time.perf_counter() - start:.0f} s)")
    fixed = landmarks[found].mean(axis=0)  # the landmark-free alignment for the others
    landmarks[~found] = fixed

    start = time.perf_counter()
    chips = np.stack([align_face(image, dlib_landmarks(points)) for image, points in zip(images, landmarks)])
    network = default_network()
    embeddings = np.concatenate([network.embed_chips(chips[k:k + 50]) for k in range(0, len(chips), 50)])
    print(f"embedded {len(chips)} chips ({time.perf_counter() - start:.0f} s)")

    for enrolled in (0, None):
        accuracy = one_shot_identification_accuracy(embeddings, labels, enrolled)
        which = "image 1 enrolled" if enrolled == 0 else "mean over the 10 choices of enrolled image"
        print(f"one-shot identification, 40 people, {which}: {accuracy:.1%}")

    distances, same = pair_distances(embeddings, labels)
    accuracy, tpr, tnr = verification_accuracy(distances, same, 0.6)
    print(f"all {len(same)} pairs, dlib's threshold 0.6: accuracy {accuracy:.1%} (same-person pairs right "
          f"{tpr:.1%}, different-person {tnr:.1%})")

    train_people, eval_people = split_people(labels, n_eval=10, seed=0)
    a, b, train_same = pairs_of(embeddings, labels, train_people)
    a_eval, b_eval, eval_same = pairs_of(embeddings, labels, eval_people)
    threshold, _ = best_threshold(np.linalg.norm(a - b, axis=1), train_same, balanced=True)
    eval_distances = np.linalg.norm(a_eval - b_eval, axis=1)
    rows = [("dlib's threshold 0.6", verification_accuracy(eval_distances, eval_same, 0.6)),
            (f"threshold {threshold:.3f} (balanced, training people)",
             verification_accuracy(eval_distances, eval_same, threshold))]
    for features in ("abs", "chi2"):
        verifier = PairVerifier(features).fit(a, b, train_same)
        predicted = verifier.predict(a_eval, b_eval)
        rows.append((f"logistic regression on {features}", (np.mean(predicted == eval_same),
                                                            np.mean(predicted[eval_same]),
                                                            np.mean(~predicted[~eval_same]))))
    print(f"verification on the {len(eval_same)} pairs of 10 people unseen in training "
          f"({eval_same.sum()} same-person):")
    for name, (accuracy, tpr, tnr) in rows:
        print(f"  {name:45s} accuracy {accuracy:.1%}  same-person right {tpr:.1%}  different-person right {tnr:.1%}")


if __name__ == "__main__":
    main()
