//! One keep-alive HTTP/1 connection, driven by hand: a load generator should spend its CPU on
//! requests, not on a client's pooling and redirect machinery.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    /// The local address it connects from, when not the system's choice.
    from: Option<IpAddr>,
}

pub type Outcome = Result<(StatusCode, Bytes), String>;

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        Self::handshake(stream, addr, None).await
    }

    /// A connection from the local address `from` (another loopback address: a client of its own).
    pub async fn open_from(from: IpAddr, addr: SocketAddr) -> Result<Self, String> {
        let socket = if from.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
        let socket = socket.map_err(|e| e.to_string())?;
        socket.bind(SocketAddr::new(from, 0)).map_err(|e| format!("bind {from}: {e}"))?;
        let stream = socket.connect(addr).await.map_err(|e| format!("connect {addr} from {from}: {e}"))?;
        Self::handshake(stream, addr, Some(from)).await
    }

    async fn handshake(stream: TcpStream, addr: SocketAddr, from: Option<IpAddr>) -> Result<Self, String> {
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Self { sender, addr, from })
    }

    pub async fn send(&mut self, method: Method, path: &str, token: Option<&str>, body: Option<String>) -> Outcome {
        if self.sender.is_closed() {
            *self = match self.from {
                Some(from) => Self::open_from(from, self.addr).await?,
                None => Self::open(self.addr).await?,
            };
        }
        let mut request = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map_or_else(Bytes::new, Bytes::from);
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self.sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, bytes))
    }

    pub async fn get(&mut self, path: &str, token: Option<&str>) -> Outcome {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&mut self, path: &str, token: &str, body: String) -> Outcome {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&mut self, path: &str, token: &str, body: String) -> Outcome {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }
}
